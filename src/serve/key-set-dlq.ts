import { BorrowedDlq } from '../dlq/borrowed.js';
import type { DeadLetter, Dlq } from '../dlq/dlq.js';

/** Up to this many keys are fetched one by one; more are picked out of one pass over the store. */
const FETCH_ONE_BY_ONE = 1000;

/**
 * A store seen through a set of keys: iterating yields only those letters (what a replay reads), everything else
 * goes to the store itself, so letters that fail again are written back where they were. Lets the page replay
 * exactly the letters the user selected, or those its filters matched when the user confirmed.
 */
export class KeySetDlq extends BorrowedDlq {
  readonly #keys: ReadonlySet<string>;

  constructor(store: Dlq, keys: Iterable<string>) {
    super(store);
    this.#keys = new Set(keys);
  }

  override async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    if (this.#keys.size <= FETCH_ONE_BY_ONE) {
      for (const key of this.#keys) {
        const letter = await this.store.get(key);
        // get() falls back to a message id; only the letter with exactly this key was selected.
        if (letter?.key === key) yield letter;
      }
      return;
    }
    for await (const letter of this.store) if (this.#keys.has(letter.key)) yield letter;
  }
}
