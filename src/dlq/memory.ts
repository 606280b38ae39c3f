import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';
import { mergeLetter, matchesFilter, compareByAge } from './letters.js';

/**
 * A dead-letter store that lives in memory: for tests, and for runs where losing dead letters at exit is fine.
 * Same semantics as the DuckDB store.
 */
export class MemoryDlq implements Dlq {
  /** Letters are gone when the process ends. */
  readonly durable = false;
  readonly #letters = new Map<string, DeadLetter>();

  async put(letters: readonly DeadLetterInput[]): Promise<void> {
    for (const input of letters) this.#letters.set(input.id, mergeLetter(this.#letters.get(input.id), input));
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    return this.#letters.get(id);
  }

  async delete(ids: string | readonly string[]): Promise<number> {
    let deleted = 0;
    for (const id of typeof ids === 'string' ? [ids] : ids) if (this.#letters.delete(id)) deleted++;
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
