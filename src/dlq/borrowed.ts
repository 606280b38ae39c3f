import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';

/**
 * A store of someone else's, seen through: every call goes to it, and `close()` leaves it open, as it is its
 * owner's to close. Subclasses change what they need (what is iterated, what is recorded on the way).
 */
export class BorrowedDlq implements Dlq {
  protected readonly store: Dlq;

  constructor(store: Dlq) {
    this.store = store;
  }

  get durable(): boolean {
    return this.store.durable;
  }

  put(letters: readonly DeadLetterInput[]): Promise<void> {
    return this.store.put(letters);
  }

  get(keyOrId: string): Promise<DeadLetter | undefined> {
    return this.store.get(keyOrId);
  }

  findById(id: string): Promise<DeadLetter[]> {
    return this.store.findById(id);
  }

  delete(keys: string | readonly string[]): Promise<number> {
    return this.store.delete(keys);
  }

  count(filter?: DlqFilter): Promise<number> {
    return this.store.count(filter);
  }

  list(options?: DlqListOptions): Promise<DeadLetter[]> {
    return this.store.list(options);
  }

  oldest(): Promise<DeadLetter | undefined> {
    return this.store.oldest();
  }

  [Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    return this.store[Symbol.asyncIterator]();
  }

  /** Leaves the store open: it is its owner's to close. */
  async close(): Promise<void> {}
}
