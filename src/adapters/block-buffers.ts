import { countableMemory } from '../newlines.js';

/**
 * Shared memory for blocks of lines, reused once a block is done with. Each buffer is memory whose newlines are
 * counted where they are (see `countableMemory`), so a block read into it is never copied on the main thread. A
 * block's bytes are read by the main thread and one worker only (the workers copy each slice of messages out before
 * building them), so they can be reused as soon as the run releases the block, instead of waiting for the garbage
 * collector: shared memory is freed only when every thread has collected its handle, and a main thread that
 * allocates little collects rarely (up to ~90 MB of spent blocks were seen waiting for it).
 */
export class BlockBuffers {
  readonly #size: number;
  readonly #free: SharedArrayBuffer[] = [];
  readonly #keep: number;

  /**
   * @param size the most a block usually holds (a read, plus the partial line carried in front of it): buffers of
   *   this size are reused, larger ones are left to the collector.
   * @param keep how many free buffers to hold on to.
   */
  constructor(size: number, keep = 6) {
    this.#size = size;
    this.#keep = keep;
  }

  /**
   * Memory for `length` bytes. Each block made from it calls `hold()` and gets the function that releases it (a
   * block cut to fit a small in-flight cap shares its memory with the others cut from it): the memory is reused
   * once every block holding it is released.
   */
  take(length: number): { bytes: Uint8Array; hold: () => () => void } {
    const reusable = length <= this.#size;
    const buffer = (reusable && this.#free.pop()) || countableMemory(reusable ? this.#size : length);
    let holders = 0;
    const hold = () => {
      holders++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (--holders === 0 && reusable && this.#free.length < this.#keep) this.#free.push(buffer);
      };
    };
    return { bytes: new Uint8Array(buffer, 0, length), hold };
  }
}
