import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DlqError, MissiveError, describe } from '../../errors.js';
import type { Log } from '../../log.js';
import { backoffDelay } from '../../retry.js';
import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions, Fingerprint } from '../dlq.js';
import { pickLetter } from '../letters.js';
import type { ReadOnlySqlOptions, SqlResult } from '../sql-sandbox.js';
import type { PageCursor } from '../wire.js';
import {
  LIST_ORDER,
  ORDER,
  SELECT,
  mergeRows,
  nonNegative,
  toLetter,
  toRow,
  upsertOf,
  whereOf,
  type Row,
} from './postgres-rows.js';
import { TABLE, prepareSchema, sqlRole, tableExists } from './postgres-schema.js';
import { runPostgresSql, type SqlSandbox } from './postgres-sql.js';
import { isPostgresUrl, redactUrl } from './postgres-url.js';

/** Options of {@link PostgresDlq}. */
export interface PostgresDlqOptions {
  /** Written with every letter that carries no fingerprint of its own. */
  readonly fingerprint?: Fingerprint;
  /**
   * Only read (and delete, for purge): the schema is not created, and a database without it is refused. Default
   * false: `open` creates the table, its views and (when allowed) the `dlq sql` roles.
   */
  readonly readOnly?: boolean;
  /** Told about connection failures a put is retrying through, and about a weaker `dlq sql` sandbox. */
  readonly log?: Log;
  /** Connections to the database at most. Default 4. */
  readonly maxConnections?: number;
}

const PAGE_SIZE = 1000;
/** Retry of a put while the database is away: from 100 ms to 5 s between tries, until it is back or the store closes. */
const RECONNECT = { initialMs: 100, factor: 2, maxMs: 5000 } as const;

/**
 * A dead-letter store in a PostgreSQL table, `missive.dead_letters`, that any number of processes on any number
 * of hosts write at once: the database serves them all, so no socket or lock file is involved. Letter identity,
 * masking and confidentiality are the DuckDB store's: each put is one upsert by letter key, committed before it
 * resolves. A put that fails because the connection did (the server restarting, a connection cut) is tried again,
 * with backoff, until it commits or the store is closed; since it is an upsert by key, a put tried again stores
 * each letter once.
 */
export class PostgresDlq implements Dlq {
  /** Committed to the database before `put` resolves. */
  readonly durable = true;
  /** The SQL `sql()` takes: the `dlq serve` page writes its queries in it. */
  readonly sqlDialect = 'postgres';
  /** The URL as it may be shown: its password masked. */
  readonly path: string;
  readonly readOnly: boolean;
  readonly #url: string;
  readonly #pool: pg.Pool;
  readonly #fingerprint: Fingerprint | null;
  readonly #log: Log | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #stop = new AbortController();

  private constructor(url: string, pool: pg.Pool, options: PostgresDlqOptions) {
    this.#url = url;
    this.path = redactUrl(url);
    this.#pool = pool;
    this.readOnly = options.readOnly === true;
    this.#fingerprint = options.fingerprint ?? null;
    this.#log = options.log;
  }

  /**
   * Connects to the database at `url` (`postgres://user:password@host:port/database`) and creates the schema if
   * needed (not with `readOnly`). Rejects with a `DlqError` naming the URL (without its password) when the server
   * cannot be reached, refuses the login, or (read-only) holds no letters table.
   */
  static async open(url: string, options: PostgresDlqOptions = {}): Promise<PostgresDlq> {
    if (!isPostgresUrl(url))
      throw new DlqError(`${redactUrl(url)} is not a PostgreSQL URL: give postgres://user@host:port/database`);
    const shown = redactUrl(url);
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 4, connectionTimeoutMillis: 10_000 });
    } catch (error) {
      throw new DlqError(
        `${shown} is not a PostgreSQL URL pg can use (${describe(error)}): give postgres://user@host:port/database`,
        { cause: error },
      );
    }
    // An idle connection the server closes (a restart, pg_terminate_backend) reports here; the pool drops it.
    pool.on('error', () => {});
    const store = new PostgresDlq(url, pool, options);
    try {
      const client = await pool.connect();
      try {
        if (options.readOnly) {
          if (!(await tableExists(client))) {
            throw new DlqError(
              `no dead letters table (${TABLE}) in ${shown}: missive run creates it when it starts with --dlq ` +
                'set to this URL, so either no run has used it yet, or --dlq names another database',
            );
          }
        } else {
          await prepareSchema(client);
        }
      } finally {
        client.release();
      }
      return store;
    } catch (error) {
      await pool.end().catch(() => {});
      if (error instanceof MissiveError) throw error;
      throw new DlqError(
        `cannot use the PostgreSQL dead-letter store ${shown}: ${describe(error)}; check that the server runs and ` +
          'accepts this user, and that --dlq (or MISSIVE_DLQ) names the right host, port and database',
        { cause: error },
      );
    }
  }

  /** Stores letters in one upsert; resolves once it is committed. Connection failures are retried (see the class). */
  put(letters: readonly DeadLetterInput[]): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError());
    if (this.readOnly) return Promise.reject(new DlqError(`the dead-letter store ${this.path} is open read-only`));
    let rows: Row[];
    try {
      const now = new Date();
      rows = mergeRows(letters.map((letter) => toRow(letter, this.#fingerprint, now)));
    } catch (error) {
      return Promise.reject(error);
    }
    if (rows.length === 0) return Promise.resolve();
    return this.#track(this.#write(rows));
  }

  async #write(rows: readonly Row[]): Promise<void> {
    const query = upsertOf(rows);
    for (let retry = 1; ; retry++) {
      try {
        await this.#pool.query(query);
        if (retry > 1) this.#log?.('info', 'dead-letter store reachable again', { dlq: this.path, tries: retry });
        return;
      } catch (error) {
        if (!isTransient(error) || this.#stop.signal.aborted) {
          throw new DlqError(
            `writing ${rows.length} dead letter${rows.length === 1 ? '' : 's'} to ${this.path} failed: ${describe(error)}; ` +
              'the letters were not stored, so their messages must not be acked',
            { cause: error },
          );
        }
        const wait = backoffDelay(RECONNECT, retry);
        this.#log?.('warn', 'dead-letter store unreachable; retrying the write (messages wait unacked)', {
          dlq: this.path,
          error: describe(error),
          retry,
          waitMs: Math.round(wait),
        });
        await sleep(wait, undefined, { signal: this.#stop.signal }).catch(() => {});
      }
    }
  }

  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    const letters = await this.#select(`${SELECT} WHERE key = $1 OR id = $1 ${ORDER}`, [keyOrId]);
    return pickLetter(
      letters.find((letter) => letter.key === keyOrId),
      letters.filter((letter) => letter.id === keyOrId),
    );
  }

  async findById(id: string): Promise<DeadLetter[]> {
    return this.#select(`${SELECT} WHERE id = $1 ${ORDER}`, [id]);
  }

  /** Deletes exactly the letters with these keys; resolves with how many existed. */
  delete(keys: string | readonly string[]): Promise<number> {
    if (this.#closing) return Promise.reject(this.#closedError());
    const list = typeof keys === 'string' ? [keys] : [...keys];
    if (list.length === 0) return Promise.resolve(0);
    return this.#track(
      this.#pool.query(`DELETE FROM ${TABLE} WHERE key = ANY($1::text[])`, [list]).then(
        (result) => result.rowCount ?? 0,
        (error: unknown) => {
          throw new DlqError(`deleting dead letters from ${this.path} failed: ${describe(error)}`, { cause: error });
        },
      ),
    );
  }

  async count(filter: DlqFilter = {}): Promise<number> {
    const params: unknown[] = [];
    const rows = await this.#query<{ n: string }>(
      `SELECT count(*) AS n FROM ${TABLE}${whereOf(filter, params)}`,
      params,
    );
    return Number(rows[0]!.n);
  }

  async list(options: DlqListOptions = {}): Promise<DeadLetter[]> {
    const params: unknown[] = [];
    const filter = whereOf(options, params);
    params.push(nonNegative('limit', options.limit ?? 100), nonNegative('offset', options.offset ?? 0));
    return this.#select(
      `${SELECT}${filter} ${LIST_ORDER} LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
  }

  async oldest(): Promise<DeadLetter | undefined> {
    return (await this.#select(`${SELECT} ${ORDER} LIMIT 1`, []))[0];
  }

  /** Letters in the store's order after `after`, at most `limit`: one page of a scan. */
  async page(after: PageCursor | null, limit: number): Promise<DeadLetter[]> {
    const size = Math.max(1, Math.min(Math.trunc(limit), PAGE_SIZE));
    if (!after) return this.#select(`${SELECT} ${ORDER} LIMIT ${size}`, []);
    return this.#select(`${SELECT} WHERE (first_failed_at, id, key) > ($1, $2, $3) ${ORDER} LIMIT ${size}`, [
      after.firstFailedAt.toISOString(),
      after.id,
      after.key,
    ]);
  }

  /**
   * One read-only query (see postgres-sql.ts), as the `dlq sql` role made at schema setup: confidential values are
   * NULL unless `reveal`. Without such a role (the store's user may not create roles) it runs as the store's user in
   * a read-only transaction, and says so through the log (or a process warning).
   */
  async sql(query: string, options: ReadOnlySqlOptions = {}): Promise<SqlResult> {
    if (this.#closing) throw this.#closedError();
    const client = await this.#connect();
    let released = false;
    try {
      const role = await sqlRole(client, options.reveal ? 'revealed' : 'masked');
      let sandbox: SqlSandbox;
      if (role) {
        // The statement runs on a connection of the role's own: this one goes back to the pool meanwhile.
        client.release();
        released = true;
        sandbox = { kind: 'role', role };
      } else {
        const why =
          `the user of ${this.path} may not create roles, so dlq sql runs as that user in a read-only transaction ` +
          'with a statement timeout: functions that user may call still run, and the letters table is reachable by ' +
          `its name (${TABLE}); give missive run a user with CREATEROLE once to make a role of its own`;
        if (this.#log) this.#log('warn', why, { dlq: this.path });
        else process.emitWarning(why);
        sandbox = { kind: 'transaction', client, why };
      }
      return await runPostgresSql(this.#url, sandbox, query, options.reveal === true);
    } finally {
      if (!released) client.release();
    }
  }

  /** Every letter, oldest first, a page at a time. */
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

  /**
   * Waits for pending puts and deletes, then closes the connections. A put still retrying through an outage
   * stops retrying and rejects: its letters were not stored, so its messages are not acked.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#stop.abort();
      await Promise.allSettled(this.#pending);
      await this.#pool.end().catch(() => {});
    })();
    return this.#closed;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const done = () => this.#pending.delete(work);
    work.then(done, done);
    return work;
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw new DlqError(`cannot reach the dead-letter store ${this.path}: ${describe(error)}`, { cause: error });
    }
  }

  async #query<T extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<T[]> {
    if (this.#closing) throw this.#closedError();
    try {
      return (await this.#track(this.#pool.query<T>(text, params))).rows;
    } catch (error) {
      throw new DlqError(`reading dead letters from ${this.path} failed: ${describe(error)}`, { cause: error });
    }
  }

  async #select(text: string, params: unknown[]): Promise<DeadLetter[]> {
    return (await this.#query<Record<string, unknown>>(text, params)).map(toLetter);
  }

  #closedError(): DlqError {
    return new DlqError(`the dead-letter store ${this.path} is closed; open it again with PostgresDlq.open`);
  }
}

/**
 * Whether a failure is the connection's rather than the statement's: the server unreachable, restarting, or the
 * connection cut (SQLSTATE classes 08 and 57P, "Connection terminated"), or a deadlock or serialization failure,
 * after which the statement can simply run again.
 */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^(08|57P|40001|40P01|53300)/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(code)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    describe(error),
  );
}
