import { countableMemory } from '../newlines.js';

/** The most memory a reader's slots take together. */
const MAX_SLOTS_BYTES = 512 * 1024 * 1024;

/**
 * Shared memory for blocks of lines: a fixed number of slots in one memory whose newlines are counted where they
 * are (see `countableMemory`), reused once a block is done with. A block's bytes are read by the main thread and
 * one worker only (the workers copy each slice of messages out before building them), so a slot can be reused as
 * soon as the run releases its block, instead of waiting for the garbage collector: shared memory is freed only
 * when every thread has collected its handle, and a main thread that allocates little collects rarely (up to ~90 MB
 * of spent blocks were seen waiting for it). A block larger than a slot, or one taken while every slot is held,
 * gets memory of its own, left to the collector.
 */
export class BlockBuffers {
  readonly #size: number;
  readonly #slots: number;
  #memory: SharedArrayBuffer | undefined;
  /** Offsets of the free slots; the memory is made at the first `take`. */
  readonly #free: number[] = [];

  /**
   * @param size the most a block usually holds (a read, plus the partial line carried in front of it): the size of
   *   a slot.
   * @param slots how many blocks can hold a slot at once: the blocks in flight, plus the reader's and the stream's.
   */
  constructor(size: number, slots = 8) {
    // Rounded to whole vectors of the counter, which reads 16 bytes at a time.
    this.#size = Math.ceil(size / 16) * 16;
    // Blocks of hundreds of MiB (a --block-bytes far past any use) get memory of their own rather than slots.
    this.#slots = Math.min(slots, Math.floor(MAX_SLOTS_BYTES / this.#size));
  }

  /**
   * Memory for `length` bytes. Each block made from it calls `hold()` and gets the function that releases it (a
   * block cut to fit a small in-flight cap shares its memory with the others cut from it): the memory is reused
   * once every block holding it is released.
   */
  take(length: number): { bytes: Uint8Array; hold: () => () => void } {
    const slot = length <= this.#size && this.#slots > 0 ? this.#takeSlot() : undefined;
    const bytes = slot === undefined ? new Uint8Array(new SharedArrayBuffer(length)) : new Uint8Array(this.#memory!, slot, length);
    let holders = 0;
    const hold = () => {
      holders++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (--holders === 0 && slot !== undefined) this.#free.push(slot);
      };
    };
    return { bytes, hold };
  }

  #takeSlot(): number | undefined {
    if (!this.#memory) {
      this.#memory = countableMemory(this.#size * this.#slots);
      for (let i = this.#slots - 1; i >= 0; i--) this.#free.push(i * this.#size);
    }
    return this.#free.pop();
  }
}
