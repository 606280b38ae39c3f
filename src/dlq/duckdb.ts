import { resolve } from 'node:path';
import { DlqError } from '../errors.js';
import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';
import { DuckDbStore, type DuckDbDlqOptions } from './duckdb-store.js';
import type { ReadOnlySqlOptions, SqlResult } from './sql-sandbox.js';
import type { PageCursor } from './wire.js';

export type { DuckDbDlqOptions } from './duckdb-store.js';

/**
 * A dead-letter store in a DuckDB file: one plain `dead_letters` table you can query with SQL (the README lists
 * its columns). `new DuckDbDlq(path)` opens the file when it is first used, so a store nobody writes to costs
 * nothing; `await DuckDbDlq.open(path)` opens it at once, failing there if it cannot. Opened for writing, it
 * answers other processes' `missive dlq` commands for the file (see shared-access.ts). Close it when done.
 */
export class DuckDbDlq implements Dlq {
  /** Committed to the file before `put` resolves. */
  readonly durable = true;
  /** The absolute path of the database file. */
  readonly path: string;
  readonly #options: DuckDbDlqOptions;
  #store: Promise<DuckDbStore> | undefined;
  #open: DuckDbStore | undefined;
  #closed: Promise<void> | undefined;

  constructor(path: string, options: DuckDbDlqOptions = {}) {
    this.path = resolve(path);
    this.#options = options;
  }

  /** Opens (creating if needed) the store at `path` now: see `DuckDbStore.open` for what it checks and refuses. */
  static async open(path: string, options: DuckDbDlqOptions = {}): Promise<DuckDbDlq> {
    const dlq = new DuckDbDlq(path, options);
    await dlq.#get();
    return dlq;
  }

  /** Opened for reading only (`options.readOnly`). */
  get readOnly(): boolean {
    return this.#options.readOnly === true;
  }

  /** The socket this store answers other processes on, once open for writing. */
  get socketPath(): string | undefined {
    return this.#open?.socketPath;
  }

  // A failed open is not kept: the next call tries again (a reader may have held the file for a moment).
  #get(): Promise<DuckDbStore> {
    if (this.#closed && !this.#open) {
      return Promise.reject(new DlqError(`the dead-letter store ${this.path} is closed; make a new DuckDbDlq to open it again`));
    }
    this.#store ??= DuckDbStore.open(this.path, this.#options).then(
      (store) => (this.#open = store),
      (error: unknown) => {
        this.#store = undefined;
        throw error;
      },
    );
    return this.#store;
  }

  async put(letters: readonly DeadLetterInput[]): Promise<void> {
    return (await this.#get()).put(letters);
  }

  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    return (await this.#get()).get(keyOrId);
  }

  async findById(id: string): Promise<DeadLetter[]> {
    return (await this.#get()).findById(id);
  }

  async delete(keys: string | readonly string[]): Promise<number> {
    return (await this.#get()).delete(keys);
  }

  async count(filter?: DlqFilter): Promise<number> {
    return (await this.#get()).count(filter);
  }

  async list(options?: DlqListOptions): Promise<DeadLetter[]> {
    return (await this.#get()).list(options);
  }

  async oldest(): Promise<DeadLetter | undefined> {
    return (await this.#get()).oldest();
  }

  /** One read-only query (see sql-sandbox.ts); confidential values are NULL unless `reveal`. */
  async sql(query: string, options?: ReadOnlySqlOptions): Promise<SqlResult> {
    return (await this.#get()).sql(query, options);
  }

  /** Letters after a cursor, for paging through the whole store. */
  async page(after: PageCursor | null, limit: number): Promise<DeadLetter[]> {
    return (await this.#get()).page(after, limit);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    yield* await this.#get();
  }

  /** Waits for pending puts and deletes, then releases the file, if it was opened. Calling it again is harmless. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const store = await this.#store?.catch(() => undefined);
      await store?.close();
    })();
    return this.#closed;
  }
}
