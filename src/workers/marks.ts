import { NOT_RUNNING, ROUTE_PENDING } from './runtime.js';

/**
 * The shared arrays a block's worker writes as it goes: progress marks and routes, one of each per message, and the
 * one word that says which message holds the thread (see `BatchMarks`).
 */
export interface Marks {
  readonly progress: Int32Array;
  readonly routed: Int32Array;
  readonly running: Int32Array;
}

/**
 * Shared memory for blocks' marks, reused from one block to the next. A block of 30,000 lines needs 240 KB of it;
 * allocated afresh each time, spent marks wait for the main thread's rare collections and pile up (tens of MB).
 * Only marks of a block whose worker answered come back: a worker being terminated might still write to them.
 */
export class MarksPool {
  /** Free buffers by capacity in messages, a power of two. */
  readonly #free = new Map<number, SharedArrayBuffer[]>();
  readonly #keep: number;

  /** @param keep how many free buffers of each capacity to hold on to. */
  constructor(keep = 8) {
    this.#keep = keep;
  }

  /** Marks for `size` messages, all progress 0, routes pending and none running. */
  take(size: number): Marks {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(1, size)));
    const buffer = this.#free.get(capacity)?.pop() ?? new SharedArrayBuffer(8 * capacity + 4);
    const progress = new Int32Array(buffer, 0, size).fill(0);
    const routed = new Int32Array(buffer, 4 * capacity, size).fill(ROUTE_PENDING);
    const running = new Int32Array(buffer, 8 * capacity, 1).fill(NOT_RUNNING);
    return { progress, routed, running };
  }

  /** Gives back marks no thread writes any more. */
  release(marks: Marks): void {
    const buffer = marks.progress.buffer as SharedArrayBuffer;
    const capacity = Math.floor(buffer.byteLength / 8);
    const free = this.#free.get(capacity) ?? [];
    if (free.length < this.#keep) free.push(buffer);
    this.#free.set(capacity, free);
  }
}
