import type { Stats } from './stats.js';

/** The in-flight cap: how much a run may hold read and unsettled. */
export interface AdmissionLimits {
  /** Messages read and not yet settled, outside blocks being run. */
  readonly maxMessages: number;
  /** Blocks of lines handed to the executor and not yet answered. */
  readonly maxBlocks: number;
  /**
   * Whether a block's lines count against `maxMessages` too: when the run was given a message cap, it holds for
   * line input as well (the adapter then cuts blocks to fit it). Default false: blocks are capped by count.
   */
  readonly blocksCountAsMessages?: boolean;
}

/**
 * Decides when the reader may take more input. A block holds thousands of lines in a bounded number of bytes, so
 * blocks are capped by count (memory stays at most `maxBlocks` blocks), and everything else, retries and dead
 * letters of blocks included, by messages; with `blocksCountAsMessages` a block's lines count as messages too. A
 * reader at the cap waits for `progress()`; nothing more is read until something settles.
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

  /** Messages in flight that count against the message cap. */
  get messages(): number {
    return this.#limits.blocksCountAsMessages ? this.#stats.inFlight : this.#stats.inFlight - this.#blockLines;
  }

  /** Blocks handed over and not yet answered. */
  get blocks(): number {
    return this.#blocks;
  }

  /** How many more messages may be read now. */
  roomForMessages(): number {
    return this.#limits.maxMessages - this.messages;
  }

  /** Whether one more block of `lines` lines may be handed over now. */
  hasRoomForBlock(lines: number): boolean {
    if (this.#blocks >= this.#limits.maxBlocks) return false;
    if (!this.#limits.blocksCountAsMessages) return this.messages < this.#limits.maxMessages;
    // Counted as messages: the block must fit, unless nothing is in flight (a block is never cut below one line).
    return this.messages === 0 || this.messages + lines <= this.#limits.maxMessages;
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
