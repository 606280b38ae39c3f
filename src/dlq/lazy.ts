import { DlqError } from '../errors.js';
import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';

/**
 * A store opened on first use (`new DuckDbDlq(path)`), so a store nobody writes to costs nothing and leaves no file.
 * `missive run` does not use it: it opens its store before reading input. Failing to open fails that call, which
 * the pipeline treats as any store failure: the message is not acked. The next call tries to open again, since the
 * cause may have passed (a `missive dlq` reader held the file longer than the open waits).
 */
export class LazyDlq<S extends Dlq = Dlq> implements Dlq {
  readonly #open: () => Promise<S>;
  #store: Promise<S> | undefined;
  #closed = false;

  /** Whether the store `open` gives is durable, known before it is opened. */
  readonly durable: boolean;

  constructor(open: () => Promise<S>, durable: boolean) {
    this.#open = open;
    this.durable = durable;
  }

  /** Whether the store has been opened (a dead letter arrived, or it was read). */
  get opened(): boolean {
    return this.#store !== undefined;
  }

  /** Opens the store now if it is not yet, so a store that cannot be opened is found before it is needed. */
  async openNow(): Promise<void> {
    await this.store();
  }

  /** The store, opened now if it is not yet; a closed one that was never opened stays closed. */
  protected store(): Promise<S> {
    if (this.#store) return this.#store;
    if (this.#closed)
      return Promise.reject(new DlqError('the dead-letter store is closed; make a new one to open it again'));
    const opening = this.#open();
    this.#store = opening;
    opening.catch(() => {
      if (this.#store === opening) this.#store = undefined;
    });
    return opening;
  }

  put(letters: readonly DeadLetterInput[]): Promise<void> {
    if (letters.length === 0 && !this.#store) return Promise.resolve();
    return this.store().then((store) => store.put(letters));
  }

  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    return (await this.store()).get(keyOrId);
  }

  async findById(id: string): Promise<DeadLetter[]> {
    return (await this.store()).findById(id);
  }

  async delete(keys: string | readonly string[]): Promise<number> {
    return (await this.store()).delete(keys);
  }

  async count(filter?: DlqFilter): Promise<number> {
    return (await this.store()).count(filter);
  }

  async list(options?: DlqListOptions): Promise<DeadLetter[]> {
    return (await this.store()).list(options);
  }

  async oldest(): Promise<DeadLetter | undefined> {
    return (await this.store()).oldest();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    yield* await this.store();
  }

  /** Closes the store if it was opened; an open that failed has nothing to close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const store = await this.#store?.catch(() => undefined);
    await store?.close();
  }
}
