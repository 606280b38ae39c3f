import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';
import { letterKey } from './letter-key.js';
import { mergeLetter, matchesFilter, compareByAge, pickLetter } from './letters.js';

/**
 * A dead-letter store that lives in memory: for tests, and for runs where losing dead letters at exit is fine.
 * Same semantics as the DuckDB store: letters are kept by key, so a reused id never replaces another message.
 */
export class MemoryDlq implements Dlq {
  /** Letters are gone when the process ends. */
  readonly durable = false;
  readonly #letters = new Map<string, DeadLetter>();

  async put(letters: readonly DeadLetterInput[]): Promise<void> {
    for (const input of letters) {
      const key = letterKey(input.source, input.id, input.body);
      this.#letters.set(key, mergeLetter(this.#letters.get(key), input, key));
    }
  }

  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    return pickLetter(this.#letters.get(keyOrId), await this.findById(keyOrId));
  }

  async findById(id: string): Promise<DeadLetter[]> {
    return this.#sorted().filter((letter) => letter.id === id);
  }

  async delete(keys: string | readonly string[]): Promise<number> {
    let deleted = 0;
    for (const key of typeof keys === 'string' ? [keys] : keys) if (this.#letters.delete(key)) deleted++;
    return deleted;
  }

  async count(filter: DlqFilter = {}): Promise<number> {
    let n = 0;
    for (const letter of this.#letters.values()) if (matchesFilter(letter, filter)) n++;
    return n;
  }

  async list(options: DlqListOptions = {}): Promise<DeadLetter[]> {
    const { limit = 100, offset = 0 } = options;
    return this.#sorted()
      .filter((letter) => matchesFilter(letter, options))
      .slice(offset, offset + limit);
  }

  async oldest(): Promise<DeadLetter | undefined> {
    return this.#sorted()[0];
  }

  async close(): Promise<void> {}

  async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    yield* this.#sorted();
  }

  #sorted(): DeadLetter[] {
    return [...this.#letters.values()].sort(compareByAge);
  }
}
