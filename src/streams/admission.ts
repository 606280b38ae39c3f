import type { Stats } from './stats.js';

/** The in-flight cap: how much a run may hold read and unsettled. */
export interface AdmissionLimits {
  /** Messages read and not yet settled, outside blocks being run. */
  readonly maxMessages: number;
  /** Blocks of lines handed to the executor and not yet answered. */
  readonly maxBlocks: number;
}

/**
 * Decides when the reader may take more input. Messages and blocks are counted apart: a block holds thousands of
 * lines in a bounded number of bytes, so blocks are capped by count (memory stays at most `maxBlocks` blocks),
 * and everything else, retries and dead letters of blocks included, by messages. A reader at the cap waits for
 * `progress()`; nothing more is read until something settles.
 */
export class Admission {
  readonly #stats: Stats;
  readonly #limits: AdmissionLimits;
  #blocks = 0;
  /** Lines of the blocks being run: in `stats.inFlight`, but capped as blocks. */
  #blockLines = 0;
  #waiting: (() => void) | undefined;

  constructor(stats: Stats, limits: AdmissionLimits) {
    this.#stats = stats;
    this.#limits = limits;
  }

  /** Messages in flight that are not part of a block being run. */
  get messages(): number {
    return this.#stats.inFlight - this.#blockLines;
  }

  /** Blocks handed over and not yet answered. */
  get blocks(): number {
    return this.#blocks;
  }

  /** How many more messages may be read now. */
  roomForMessages(): number {
    return this.#limits.maxMessages - this.messages;
  }

  /** Whether one more block may be handed over now. */
  hasRoomForBlock(): boolean {
    return this.#blocks < this.#limits.maxBlocks && this.messages < this.#limits.maxMessages;
  }

  takeBlock(lines: number): void {
    this.#blocks++;
    this.#blockLines += lines;
  }

  /** A block was answered (or lost): its messages, if any are still in flight, now count as messages. */
  releaseBlock(lines: number): void {
    this.#blocks--;
    this.#blockLines -= lines;
    this.progress();
  }

  /** Resolves at the next `progress()` that finds room, or at `wake()`. */
  waitForRoom(): Promise<void> {
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  /** Something settled: a waiting reader goes on if there is room now. */
  progress(): void {
    if (this.#waiting && this.messages < this.#limits.maxMessages && this.#blocks < this.#limits.maxBlocks) this.wake();
  }

  /** Lets a waiting reader go on whatever the count: the run is stopping and it must see that. */
  wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}
