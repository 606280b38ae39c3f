/**
 * One array of words a thread keeps from one block to the next, for the scratch arrays splitting a block needs (a
 * block of 4 MiB of short lines has 100,000 lines). Made afresh each time, they outlived the young generation (a
 * block runs across many event-loop turns) and piled up until a full collection: ~35 MB more resident per worker at
 * 10M lines (bench/pipeline.js). The array is taken while in use, so a second use meanwhile (two blocks at once in
 * one thread with `threads: 0`) gets one of its own.
 */
export class SpareWords {
  #spare: Uint32Array | undefined;

  /** An array of at least `length` words: the spare one when it is free and large enough, else a new one. */
  take(length: number): Uint32Array {
    const spare = this.#spare;
    if (spare && spare.length >= length) {
      this.#spare = undefined;
      return spare;
    }
    return new Uint32Array(length);
  }

  /** Keeps `words` for the next {@link take}, unless a larger array is kept already. */
  giveBack(words: Uint32Array): void {
    if (!this.#spare || this.#spare.length < words.length) this.#spare = words;
  }
}
