import { resolve } from 'node:path';
import type { DeadLetter } from './dlq.js';
import { DuckDbStore, type DuckDbDlqOptions } from './duckdb-store.js';
import { LazyDlq } from './lazy.js';
import type { ReadOnlySqlOptions, SqlResult } from './sql-sandbox.js';
import type { PageCursor } from './wire.js';

export type { DuckDbDlqOptions } from './duckdb-store.js';

/**
 * A dead-letter store in a DuckDB file: one plain `dead_letters` table you can query with SQL (the README lists
 * its columns). `new DuckDbDlq(path)` opens the file when it is first used, so a store nobody writes to costs
 * nothing and leaves no file; `await DuckDbDlq.open(path)` opens it at once, failing there if it cannot. Opened for
 * writing, it answers other processes' `missive dlq` commands for the file (see shared-access.ts). Close it when
 * done.
 */
export class DuckDbDlq extends LazyDlq<DuckDbStore> {
  /** The absolute path of the database file. */
  readonly path: string;
  readonly #options: DuckDbDlqOptions;
  /** The open file, once opened: what the getters read without opening it. */
  readonly #opened: { store?: DuckDbStore };

  constructor(path: string, options: DuckDbDlqOptions = {}) {
    const file = resolve(path);
    const opened: { store?: DuckDbStore } = {};
    super(async () => (opened.store = await DuckDbStore.open(file, options)), true);
    this.path = file;
    this.#options = options;
    this.#opened = opened;
  }

  /** Opens (creating if needed) the store at `path` now: see `DuckDbStore.open` for what it checks and refuses. */
  static async open(path: string, options: DuckDbDlqOptions = {}): Promise<DuckDbDlq> {
    const dlq = new DuckDbDlq(path, options);
    await dlq.store();
    return dlq;
  }

  /** Opened for reading only (`options.readOnly`). */
  get readOnly(): boolean {
    return this.#options.readOnly === true;
  }

  /** The socket this store answers other processes on, once open for writing. */
  get socketPath(): string | undefined {
    return this.#opened.store?.socketPath;
  }

  /** One read-only query (see sql-sandbox.ts); confidential values are NULL unless `reveal`. */
  async sql(query: string, options?: ReadOnlySqlOptions): Promise<SqlResult> {
    return (await this.store()).sql(query, options);
  }

  /** Letters after a cursor, for paging through the whole store. */
  async page(after: PageCursor | null, limit: number): Promise<DeadLetter[]> {
    return (await this.store()).page(after, limit);
  }
}
