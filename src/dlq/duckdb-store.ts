import { stat } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import {
  DuckDBBlobValue,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  listValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
} from './duckdb-api.js';
import { DlqError, DlqLockedError, InvalidOptionError, MissiveError, describe } from '../errors.js';
import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions, Fingerprint } from './dlq.js';
import { checkHeader, checkLocation, checkReadable, lockHolders, realFile } from './duckdb-file.js';
import { COLUMNS, LEGACY_COLUMNS, prepareTable, tableFormat } from './duckdb-schema.js';
import { filterWhere } from './letter-filter.js';
import { letterKey, looksLikeLetterKey } from './letter-key.js';
import { pickLetter } from './letters.js';
import { serveStore, type ServedStore, type StoreServer } from './socket-server.js';
import { reportUnserved } from './socket-dir-check.js';
import { socketPathFor } from './socket-path.js';
import { LOCKED_DOWN, runReadOnlySql, type ReadOnlySqlOptions, type SqlResult } from './sql-sandbox.js';
import type { PageCursor } from './wire.js';

/** Options of a {@link DuckDbStore}, and of the public `DuckDbDlq`. */
export interface DuckDbDlqOptions {
  /** Written with every letter that carries no fingerprint of its own. */
  readonly fingerprint?: Fingerprint;
  /**
   * Open the file for reading only: no write access to the file or its directory is needed, other readers may
   * hold it too, and put and delete reject. A file in the format of missive-node 0.1 is read as it is. Default false.
   */
  readonly readOnly?: boolean;
  /**
   * How long to keep trying while another process holds the file's lock: a `missive dlq` reader holds it for the
   * length of its command. Default 10000 ms for writing, 0 for reading.
   */
  readonly lockWaitMs?: number;
  /**
   * Answer other processes' `missive dlq` commands on a Unix socket while the file is open for writing (see
   * shared-access.ts). Default true; ignored when `readOnly`.
   */
  readonly serve?: boolean;
  /**
   * Told why the store cannot answer on its socket (a `DlqSocketUnsafeError` when the socket's directory is not
   * this user's own and private). The store works without it; only `missive dlq` commands cannot reach it. Default:
   * a process warning (`process.emitWarning`).
   */
  readonly onServeError?: (error: unknown) => void;
}

const ORDER = 'ORDER BY first_failed_at, id, key';
// Listings, for people: letters that failed together (a group shares its time) in line order, `file:2` before
// `file:10`, where ids end in a line number; paging (ORDER) keeps a plain order its cursor can seek in.
const LINE_OF_ID = "TRY_CAST(NULLIF(regexp_extract(id, ':([0-9]+)$', 1), '') AS BIGINT)";
const LIST_ORDER = `ORDER BY first_failed_at, ${LINE_OF_ID} NULLS LAST, id, key`;
// A 0.1 file has no key column: the rows are read with NULL there, and toLetter computes the key.
const SELECT = `SELECT ${COLUMNS.join(', ')} FROM dead_letters`;
const SELECT_LEGACY = `SELECT NULL::VARCHAR AS key, ${LEGACY_COLUMNS.join(', ')} FROM dead_letters`;
const ORDER_LEGACY = 'ORDER BY first_failed_at, id';

// Staging carries one extra column, how many times the key occurs in the group, so the merge can count attempts
// as if the letters had been put one by one.
const CREATE_STAGING = `CREATE TEMP TABLE IF NOT EXISTS dead_letters_staging AS
  SELECT *, 0::INTEGER AS occurrences FROM dead_letters LIMIT 0`;

const REPLACED = COLUMNS.filter((c) => c !== 'key' && c !== 'id' && c !== 'attempts' && c !== 'first_failed_at');
const MERGE = `MERGE INTO dead_letters AS d USING dead_letters_staging AS s ON d.key = s.key
WHEN MATCHED THEN UPDATE SET ${REPLACED.map((c) => `${c} = s.${c}`).join(', ')},
  attempts = greatest(d.attempts + s.occurrences, s.attempts)
WHEN NOT MATCHED THEN INSERT (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `s.${c}`).join(', ')})`;

// Dead letters arrive as many small commits, each logged to the WAL. At the default 16MB threshold a checkpoint
// (which rewrites the primary-key index) stalls a put every few dozen batches; 64MB measured ~25% more rows/s
// for awaited 1000-letter puts, at the price of a larger WAL to replay after a crash. Locked down because the
// running processor answers other processes' queries on this same instance.
const CONFIG = { checkpoint_threshold: '64MB', ...LOCKED_DOWN };
const READ_ONLY_CONFIG = { access_mode: 'READ_ONLY', ...LOCKED_DOWN };
const DEFAULT_WRITE_LOCK_WAIT_MS = 10_000;

/** Letters per query when iterating: bounds memory whatever the table's size. */
const PAGE_SIZE = 1000;
/** Rows per appended data chunk: DuckDB's vector size, the most one chunk holds. */
const CHUNK_SIZE = 2048;
const INT32_MAX = 0x7fffffff;

/** Files open in this process: DuckDB's file lock only guards against other processes. */
const openFiles = new Set<string>();

/** A letter as it goes into the table, already validated, plus how often its id occurs in the write group. */
interface Row {
  readonly key: string;
  readonly id: string;
  readonly body: DuckDBBlobValue;
  readonly reason: string;
  readonly error: string | null;
  readonly handler: string | null;
  readonly source: string | null;
  readonly headers: string | null;
  readonly attempts: number;
  readonly firstFailedAt: DuckDBTimestampTZValue;
  readonly lastFailedAt: DuckDBTimestampTZValue;
  readonly fingerprint: Fingerprint | null;
  readonly confidential: boolean;
  readonly occurrences: number;
}

interface PendingPut {
  readonly rows: readonly Row[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * An open dead-letter file (the public `DuckDbDlq` in duckdb.ts opens one when first used): one plain
 * `dead_letters` table you can query with SQL, one row per letter key (see `letterKey`). Writes are group-committed: puts that arrive while a write is in progress are
 * written together in the next transaction. Opened for writing, it answers `missive dlq` commands of other
 * processes on a Unix socket (see shared-access.ts), since DuckDB lets no other process open the file meanwhile.
 */
export class DuckDbStore implements Dlq, ServedStore {
  /** Committed to the file before `put` resolves. */
  readonly durable = true;
  /** The absolute path of the database file. */
  readonly path: string;
  /** Opened with `readOnly`. */
  readonly readOnly: boolean;
  /** A file of missive-node 0.1 read as it is (read-only): no key column, keys computed as rows are read. */
  readonly #legacy: boolean;
  #server: StoreServer | undefined;
  readonly #instance: DuckDBInstance;
  readonly #writer: DuckDBConnection;
  readonly #reader: DuckDBConnection;
  readonly #fingerprint: Fingerprint | null;
  /** Writes and deletes run one after another on `#writer`, so a delete never lands inside a put's transaction. */
  #lane: Promise<void> = Promise.resolve();
  #queue: PendingPut[] = [];
  #flushScheduled = false;
  readonly #reads = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  private constructor(
    path: string,
    instance: DuckDBInstance,
    writer: DuckDBConnection,
    reader: DuckDBConnection,
    fingerprint: Fingerprint | null,
    readOnly: boolean,
    legacy: boolean,
  ) {
    this.path = path;
    this.readOnly = readOnly;
    this.#legacy = legacy;
    this.#instance = instance;
    this.#writer = writer;
    this.#reader = reader;
    this.#fingerprint = fingerprint;
  }

  /**
   * Opens (creating if needed) the store at `path`; a file in the format of missive-node 0.1 (no key column) is
   * migrated in place, in one transaction. Rejects with `DlqError` when the directory is missing or not writable
   * or the file is already open in this process, and with `DlqLockedError` when another process still holds the
   * file after `lockWaitMs`. With `readOnly`, opens an existing file for reading only (see the option).
   */
  static async open(path: string, options: DuckDbDlqOptions = {}): Promise<DuckDbStore> {
    const file = await realFile(path);
    const readOnly = options.readOnly === true;
    if (readOnly) await checkReadable(file);
    else await checkLocation(file);
    const existed = await stat(file).then(
      () => true,
      () => false,
    );
    if (existed && !readOnly) await checkHeader(file);
    if (openFiles.has(file)) {
      throw new DlqError(
        `the dead-letter file ${file} is already open in this process; close that DuckDbDlq first, or share it`,
      );
    }
    openFiles.add(file);
    let instance: DuckDBInstance | undefined;
    let store: DuckDbStore | undefined;
    try {
      const wait = options.lockWaitMs ?? (readOnly ? 0 : DEFAULT_WRITE_LOCK_WAIT_MS);
      instance = await createInstance(file, readOnly ? READ_ONLY_CONFIG : CONFIG, wait);
      const writer = await instance.connect();
      const reader = await instance.connect();
      let legacy = false;
      if (readOnly) {
        const format = await tableFormat(file, reader);
        if (format === 'missing') throw new DlqError(`${file} is a DuckDB database without a dead_letters table`);
        legacy = format === 'legacy';
      } else {
        await prepareTable(file, writer);
        await writer.run(CREATE_STAGING);
      }
      store = new DuckDbStore(file, instance, writer, reader, options.fingerprint ?? null, readOnly, legacy);
      if (!readOnly && options.serve !== false) {
        // Without its socket the store still works; the commands of other processes cannot reach it, so say why.
        store.#server = await serveStore(store, socketPathFor(file)).catch((error: unknown) => {
          if (options.onServeError) options.onServeError(error);
          else reportUnserved(file, error);
          return undefined;
        });
      }
      return store;
    } catch (error) {
      if (store) await store.close().catch(() => {});
      else instance?.closeSync();
      openFiles.delete(file);
      if (!readOnly && isLockConflict(error)) {
        const holders = await lockHolders(file);
        if (holders.length > 0 && holders.every((holder) => holder.kind === 'READ')) {
          throw new DlqError(
            `the dead-letter file ${file} is held for reading by process ${holders.map((h) => h.pid).join(', ')} ` +
              `(a missive dlq command?) for longer than ${options.lockWaitMs ?? DEFAULT_WRITE_LOCK_WAIT_MS} ms; ` +
              'nothing was written: try again once it has finished',
            { cause: error },
          );
        }
      }
      throw await openError(file, existed, error);
    }
  }

  /** The socket this store answers other processes on, while open for writing. */
  get socketPath(): string | undefined {
    return this.#server?.socketPath;
  }

  /** Stores letters; resolves once they are committed. Puts made while a write runs share the next transaction. */
  put(letters: readonly DeadLetterInput[]): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.readOnly) return Promise.reject(this.#readOnlyError());
    let rows: Row[];
    try {
      const now = new Date();
      rows = letters.map((letter) => toRow(letter, this.#fingerprint, now));
    } catch (error) {
      return Promise.reject(error);
    }
    if (rows.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#queue.push({ rows, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        void this.#serially(() => this.#flush());
      }
    });
  }

  /** The letter with this key; failing that, the letter with this id that failed last. */
  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    if (this.#legacy) {
      const byId = await this.findById(keyOrId);
      if (byId.length > 0 || !looksLikeLetterKey(keyOrId)) return byId[0];
      for await (const letter of this) if (letter.key === keyOrId) return letter;
      return undefined;
    }
    const { letters } = await this.#select(`${SELECT} WHERE key = $1 OR id = $1 ${ORDER}`, [keyOrId]);
    return pickLetter(
      letters.find((letter) => letter.key === keyOrId),
      letters.filter((letter) => letter.id === keyOrId),
    );
  }

  /** Every letter with this message id, oldest first failure first. */
  async findById(id: string): Promise<DeadLetter[]> {
    return (await this.#select(`${this.#selectSql} WHERE id = $1 ${this.#order}`, [id])).letters;
  }

  /** Deletes exactly the letters with these keys; resolves with how many existed. */
  delete(keys: string | readonly string[]): Promise<number> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.readOnly) return Promise.reject(this.#readOnlyError());
    const list = typeof keys === 'string' ? [keys] : [...keys];
    if (list.length === 0) return Promise.resolve(0);
    return this.#serially(async () => {
      try {
        const result = await this.#writer.run('DELETE FROM dead_letters WHERE key IN (SELECT unnest($1))', [
          listValue(list),
        ]);
        return result.rowsChanged;
      } catch (error) {
        throw new DlqError(`deleting dead letters from ${this.path} failed: ${describe(error)}`, { cause: error });
      }
    });
  }

  /**
   * Runs one read-only query (see `runReadOnlySql`) on a connection of its own, closed afterwards: the instance
   * is locked down, so the query can neither change the file nor reach outside it.
   */
  async sql(query: string, options: ReadOnlySqlOptions = {}): Promise<SqlResult> {
    return this.#read(async () => {
      const connection = await this.#instance.connect();
      try {
        return await runReadOnlySql(connection, query, options);
      } finally {
        connection.closeSync();
      }
    }, true);
  }

  /** Letters in the store's order (first failure, id, key) after `after`, at most `limit`: one page of a scan. */
  async page(after: PageCursor | null, limit: number): Promise<DeadLetter[]> {
    const size = BigInt(Math.max(1, Math.min(limit, PAGE_SIZE)));
    if (!after) return (await this.#select(`${this.#selectSql} ${this.#order} LIMIT ${size}`, [])).letters;
    const at = micros(after.firstFailedAt);
    if (!at) throw new InvalidOptionError('a page cursor needs a valid firstFailedAt');
    const seek = this.#legacy
      ? 'WHERE first_failed_at > $1 OR (first_failed_at = $1 AND id > $2)'
      : 'WHERE first_failed_at > $1 OR (first_failed_at = $1 AND (id > $2 OR (id = $2 AND key > $3)))';
    const params: DuckDBValue[] = this.#legacy ? [at, after.id] : [at, after.id, after.key];
    return (await this.#select(`${this.#selectSql} ${seek} ${this.#order} LIMIT ${size}`, params)).letters;
  }

  get #selectSql(): string {
    return this.#legacy ? SELECT_LEGACY : SELECT;
  }

  get #order(): string {
    return this.#legacy ? ORDER_LEGACY : ORDER;
  }

  /** How many letters the filter selects. */
  async count(filter: DlqFilter = {}): Promise<number> {
    const params: DuckDBValue[] = [];
    const sql = `SELECT count(*) FROM dead_letters${where(filter, params)}`;
    const rows = await this.#read(async () => (await this.#reader.runAndReadAll(sql, params)).getRows());
    return Number(rows[0]![0]);
  }

  /** Letters the filter selects, oldest first failure first, then in line order (see LIST_ORDER), then by id. */
  async list(options: DlqListOptions = {}): Promise<DeadLetter[]> {
    const params: DuckDBValue[] = [];
    const filter = where(options, params);
    params.push(bigint('limit', options.limit ?? 100), bigint('offset', options.offset ?? 0));
    const order = this.#legacy ? ORDER_LEGACY : LIST_ORDER;
    const sql = `${this.#selectSql}${filter} ${order} LIMIT $${params.length - 1} OFFSET $${params.length}`;
    return (await this.#select(sql, params)).letters;
  }

  /** The letter whose first failure is the earliest, if any. */
  async oldest(): Promise<DeadLetter | undefined> {
    return (await this.#select(`${this.#selectSql} ${this.#order} LIMIT 1`, [])).letters[0];
  }

  /** Waits for pending puts and deletes, then releases the file. Calling it again is harmless. */
  close(): Promise<void> {
    this.#closed ??= this.#release();
    return this.#closed;
  }

  /** Every letter, oldest first; reads a page at a time, so letters deleted meanwhile are not skipped over. */
  async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    let after: PageCursor | null = null;
    for (;;) {
      const page = await this.page(after, PAGE_SIZE);
      yield* page;
      if (page.length < PAGE_SIZE) return;
      const last = page.at(-1)!;
      after = { firstFailedAt: last.firstFailedAt, id: last.id, key: last.key };
    }
  }

  async #release(): Promise<void> {
    // The socket goes first: a request that comes after this finds nobody and opens the file itself, once free.
    await this.#server?.close();
    await this.#lane;
    await Promise.allSettled(this.#reads);
    this.#writer.closeSync();
    this.#reader.closeSync();
    this.#instance.closeSync();
    openFiles.delete(this.path);
  }

  /** Runs `task` after every write queued before it, on the writer connection. */
  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lane.then(task);
    this.#lane = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #flush(): Promise<void> {
    const group = this.#queue;
    this.#queue = [];
    this.#flushScheduled = false;
    try {
      await this.#write(mergeGroup(group));
    } catch (error) {
      const failure = new DlqError(
        `writing ${group.length === 1 ? 'a batch' : `${group.length} batches`} of dead letters to ${this.path} ` +
          `failed: ${describe(error)}; the letters were not stored, so their messages must not be acked`,
        { cause: error },
      );
      for (const put of group) put.reject(failure);
      return;
    }
    for (const put of group) put.resolve();
  }

  /**
   * New keys are the common case, so the rows are first appended straight into the table, which is as fast as
   * DuckDB writes. A stored key makes that fail on the primary key; the transaction is rolled back and the rows go
   * through a staging table and one MERGE instead, which applies the same-message rules. Any other failure (a
   * full disk) is reported as it is, not retried into a second error that would hide it.
   */
  async #write(rows: readonly Row[]): Promise<void> {
    try {
      await this.#transaction(() => this.#append(rows, false));
    } catch (error) {
      if (!isKeyConflict(error)) throw error;
      await this.#transaction(async () => {
        await this.#append(rows, true);
        await this.#writer.run(MERGE);
        await this.#writer.run('DELETE FROM dead_letters_staging');
      });
    }
  }

  async #transaction(body: () => Promise<void>): Promise<void> {
    await this.#writer.run('BEGIN TRANSACTION');
    try {
      await body();
      await this.#writer.run('COMMIT');
    } catch (error) {
      // A failed COMMIT has ended the transaction already, so this ROLLBACK fails too ("no transaction is active");
      // the first error is the one that says what happened.
      await this.#writer.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /** Appends rows to the table, or to staging, a data chunk at a time: fewer native calls than value by value. */
  async #append(rows: readonly Row[], staging: boolean): Promise<void> {
    const appender = staging
      ? await this.#writer.createAppender('dead_letters_staging', 'main', 'temp')
      : await this.#writer.createAppender('dead_letters');
    try {
      const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
      for (let start = 0; start < rows.length; start += CHUNK_SIZE) {
        // The Appender is synchronous; a large group would hold the event loop (and the transport's heartbeats)
        // for as long as it takes, so each chunk is flushed on its own and the loop gets a turn in between.
        if (start > 0) await yieldToEventLoop();
        const slice = rows.slice(start, start + CHUNK_SIZE);
        const chunk = DuckDBDataChunk.create(types, slice.length);
        chunk.setColumns(columnsOf(slice, staging));
        appender.appendDataChunk(chunk);
        appender.flushSync();
      }
    } finally {
      closeQuietly(appender);
    }
  }

  async #select(sql: string, params: DuckDBValue[]): Promise<{ letters: DeadLetter[] }> {
    const rows = await this.#read(async () => (await this.#reader.runAndReadAll(sql, params)).getRows());
    return { letters: rows.map(toLetter) };
  }

  /** Runs a query on the reader connection; close() waits for it, and its errors become DlqErrors. */
  async #read<T>(query: () => Promise<T>, keepMissiveErrors = false): Promise<T> {
    if (this.#closed) throw this.#closedError();
    const run = query();
    this.#reads.add(run);
    try {
      return await run;
    } catch (error) {
      if (keepMissiveErrors && error instanceof MissiveError) throw error;
      throw new DlqError(`reading dead letters from ${this.path} failed: ${describe(error)}`, { cause: error });
    } finally {
      this.#reads.delete(run);
    }
  }

  #readOnlyError(): DlqError {
    return new DlqError(`the dead-letter store ${this.path} is open read-only; open it without readOnly to change it`);
  }

  #closedError(): DlqError {
    return new DlqError(`the dead-letter store ${this.path} is closed; open it again with DuckDbDlq.open`);
  }
}

/** Whether DuckDB refused to open a file because another process holds its lock. */
export function isLockConflict(error: unknown): boolean {
  return /Could not set lock on file/i.test(describe(error));
}

/** Whether a write failed only because a letter's key is stored already (the same message failed again). */
function isKeyConflict(error: unknown): boolean {
  return /constraint|duplicate key/i.test(describe(error));
}

/** Creates the instance, trying again while another process holds the lock, for at most `waitMs`. */
async function createInstance(file: string, config: Record<string, string>, waitMs: number): Promise<DuckDBInstance> {
  const deadline = Date.now() + waitMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    try {
      return await DuckDBInstance.create(file, config);
    } catch (error) {
      if (!isLockConflict(error) || Date.now() + pause > deadline) throw error;
      await sleep(pause);
    }
  }
}

/** What failed an open, said for the person who chose the path: what is wrong with it and what to do. */
async function openError(file: string, existed: boolean, error: unknown): Promise<Error> {
  if (error instanceof MissiveError) return error;
  if (isLockConflict(error)) {
    const holders = [...new Set((await lockHolders(file)).map((holder) => holder.pid))];
    return new DlqLockedError(file, { cause: error, holders });
  }
  if (!existed) {
    return new DlqError(
      `cannot create the dead-letter file ${file}: ${describe(error)}; choose a path on a writable disk (--dlq)`,
      { cause: error },
    );
  }
  return new DlqError(
    `cannot open the dead-letter file ${file}: ${describe(error)}; it is damaged (cut short?) or not a DuckDB ` +
      'database this version of missive-node can use: choose another path (--dlq), or restore the file from a copy ' +
      '(it is left alone)',
    { cause: error },
  );
}

/** Validates and converts one input; done in `put` itself so a bad letter fails only its own put. */
function toRow(input: DeadLetterInput, fallback: Fingerprint | null, now: Date): Row {
  const failedAt = micros(input.failedAt ?? now);
  if (!failedAt) throw new DlqError(`dead letter ${input.id}: failedAt is not a valid date`);
  let headers: string | null;
  try {
    headers = input.headers ? JSON.stringify(input.headers) : null;
  } catch (error) {
    throw new DlqError(`dead letter ${input.id}: its headers cannot be stored as JSON (${describe(error)})`, {
      cause: error,
    });
  }
  const fingerprint = input.fingerprint ?? fallback;
  if (fingerprint) int32(fingerprint.pid, 'fingerprint pid', input.id);
  return {
    key: letterKey(input.source, input.id, input.body),
    id: input.id,
    body: new DuckDBBlobValue(input.body),
    reason: input.reason,
    error: input.error ?? null,
    handler: input.handler ?? null,
    source: input.source ?? null,
    headers,
    attempts: int32(input.attempts ?? 1, 'attempts', input.id),
    firstFailedAt: failedAt,
    lastFailedAt: failedAt,
    fingerprint,
    confidential: input.confidential === true,
    occurrences: 1,
  };
}

/**
 * One row per key for a write group, in put order. Putting letters one by one gives
 * attempts = max(stored + 1, a1), then max(that + 1, a2)...; that equals max(stored + k, c) with k occurrences and
 * c folded the same way from the first letter's attempts, which is what the MERGE computes from the staging row.
 */
function mergeGroup(group: readonly PendingPut[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const put of group) {
    for (const row of put.rows) {
      const seen = byKey.get(row.key);
      byKey.set(
        row.key,
        seen
          ? {
              ...row,
              firstFailedAt: seen.firstFailedAt,
              attempts: Math.max(seen.attempts + 1, row.attempts),
              occurrences: seen.occurrences + 1,
            }
          : row,
      );
    }
  }
  return [...byKey.values()];
}

function columnsOf(rows: readonly Row[], withOccurrences: boolean): DuckDBValue[][] {
  const columns: DuckDBValue[][] = [
    rows.map((r) => r.key),
    rows.map((r) => r.id),
    rows.map((r) => r.body),
    rows.map((r) => r.reason),
    rows.map((r) => r.error),
    rows.map((r) => r.handler),
    rows.map((r) => r.source),
    rows.map((r) => r.headers),
    rows.map((r) => r.attempts),
    rows.map((r) => r.firstFailedAt),
    rows.map((r) => r.lastFailedAt),
    rows.map((r) => r.fingerprint?.name ?? null),
    rows.map((r) => r.fingerprint?.host ?? null),
    rows.map((r) => r.fingerprint?.pid ?? null),
    rows.map((r) => r.fingerprint?.version ?? null),
    rows.map((r) => r.confidential),
  ];
  if (withOccurrences) columns.push(rows.map((r) => r.occurrences));
  return columns;
}

function toLetter(row: readonly DuckDBValue[]): DeadLetter {
  const [
    key,
    id,
    body,
    reason,
    error,
    handler,
    source,
    headers,
    attempts,
    first,
    last,
    name,
    host,
    pid,
    version,
    confidential,
  ] = row;
  const bytes = Buffer.from((body as DuckDBBlobValue).bytes);
  return {
    key: key === null ? letterKey(source as string | null, id as string, bytes) : (key as string),
    id: id as string,
    body: bytes,
    reason: reason as string,
    error: error as string | null,
    handler: handler as string | null,
    source: source as string | null,
    headers: headers === null ? null : (JSON.parse(headers as string) as Record<string, unknown>),
    attempts: attempts as number,
    firstFailedAt: toDate(first as DuckDBTimestampTZValue),
    lastFailedAt: toDate(last as DuckDBTimestampTZValue),
    fingerprint:
      name === null
        ? null
        : {
            name: name as string,
            host: host as string,
            pid: pid as number,
            ...(version === null ? {} : { version: version as string }),
          },
    confidential: confidential === true,
  };
}

/** The WHERE clause for a filter (see {@link filterWhere}), its values appended to `params`. */
function where(filter: DlqFilter, params: DuckDBValue[]): string {
  const bind = (value: DuckDBValue): string => `$${params.push(value)}`;
  return filterWhere<DuckDBValue>(filter, bind, micros);
}

/** A Date as DuckDB's microsecond timestamp, or undefined for an invalid Date. */
function micros(date: Date): DuckDBTimestampTZValue | undefined {
  const ms = date.getTime();
  return Number.isFinite(ms) ? new DuckDBTimestampTZValue(BigInt(ms) * 1000n) : undefined;
}

function toDate(value: DuckDBTimestampTZValue): Date {
  return new Date(Number(value.micros / 1000n));
}

function int32(value: number, what: string, id: string): number {
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw new DlqError(`dead letter ${id}: ${what} must be an integer from 0 to ${INT32_MAX}, got ${value}`);
  }
  return value;
}

function bigint(what: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(`${what} must be a non-negative integer, got ${value}`);
  }
  return BigInt(value);
}

/** Closing flushes again, which throws once a flush has failed; that failure is already being reported. */
function closeQuietly(appender: DuckDBAppender): void {
  try {
    appender.closeSync();
  } catch {
    // A close that fails (the rows broke the primary key) leaves the rows in the appender, and DuckDB flushes them
    // when the garbage collector finalizes it, into whatever transaction the connection has open then. Drop them.
    try {
      appender.clear();
      appender.closeSync();
    } catch {
      // Nothing left to flush; the caller rolls the transaction back either way.
    }
  }
}
