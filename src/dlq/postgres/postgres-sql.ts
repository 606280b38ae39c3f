import pg from 'pg';
import { DlqError, UsageError, describe } from '../../errors.js';
import { firstKeyword } from '../sql-sandbox.js';
import type { SqlResult } from '../sql-sandbox.js';
import { MASKED_SCHEMA, REVEALED_SCHEMA, type SqlRole } from './postgres-schema.js';
import { urlAs } from './postgres-url.js';

/** How long a user's statement may run before PostgreSQL cancels it. */
export const SQL_TIMEOUT_MS = 30_000;

/** The leading keywords of the queries `dlq sql` takes on PostgreSQL. */
const QUERY_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE']);
const HOW = 'dlq sql runs one read-only query (SELECT, WITH, VALUES or TABLE)';

/** Where a user's statement runs: as a `dlq sql` role of its own, or (without one) as the store's user. */
export type SqlSandbox =
  | { readonly kind: 'role'; readonly role: SqlRole }
  | { readonly kind: 'transaction'; readonly client: pg.ClientBase; readonly why: string };

/**
 * Runs one user statement on the store at `url`. The statement must be one query by its first keyword; it is sent
 * with the extended protocol, which takes one statement only (so `SELECT 1; DROP TABLE x` fails as a whole), in a
 * `READ ONLY` transaction with a statement timeout and `search_path` set to the view's schema (masked unless
 * `reveal`). In a `role` sandbox it runs on a connection logged in as that role, which may read its view and
 * nothing else: no table by its qualified name, no function that reaches files, large objects or the network
 * (those need privileges it lacks), and no `SET ROLE` (it is a member of no role). In a `transaction` sandbox it
 * runs as the store's user, whose privileges remain: the caller says so.
 */
export async function runPostgresSql(
  url: string,
  sandbox: SqlSandbox,
  sql: string,
  reveal: boolean,
): Promise<SqlResult> {
  const keyword = firstKeyword(sql);
  if (keyword === '') throw new UsageError(`${HOW}; this text holds none: give one, quoted`);
  if (!QUERY_KEYWORDS.has(keyword)) {
    throw new UsageError(`${HOW}; ${keyword} is refused, because dlq sql never changes the store or reads outside it`);
  }
  // Large-object functions are granted to PUBLIC, and PostgreSQL 15 lets some of them write in a READ ONLY
  // transaction (rolled back after, so nothing stays); refused by name, with Unicode-escaped names that could hide
  // one, so a statement cannot even try.
  if (/\blo_[a-z_]*\s*\(|\bU&["']/i.test(sql)) {
    throw new UsageError(
      `${HOW}; large-object functions (lo_*) and U& escaped names are refused, because dlq sql reads the letters alone`,
    );
  }
  let own: pg.Client | undefined;
  let client: pg.ClientBase;
  if (sandbox.kind === 'role') {
    own = new pg.Client({ connectionString: urlAs(url, sandbox.role.name, sandbox.role.password) });
    own.on('error', () => {});
    try {
      await own.connect();
    } catch (error) {
      throw new DlqError(
        `dlq sql logs in to PostgreSQL as ${sandbox.role.name}, a role with no privilege but reading the letters, ` +
          `and that failed: ${describe(error)}; allow that role to connect (pg_hba.conf) and try again`,
        { cause: error },
      );
    }
    client = own;
  } else {
    client = sandbox.client;
  }
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    try {
      await client.query(`SET LOCAL statement_timeout = ${SQL_TIMEOUT_MS}`);
      await client.query(`SET LOCAL search_path = ${reveal ? REVEALED_SCHEMA : MASKED_SCHEMA}`);
      const result = await client.query({
        text: sql,
        values: [],
        queryMode: 'extended',
        rowMode: 'array',
      } as pg.QueryConfig);
      return {
        columns: result.fields.map((field) => field.name),
        rows: (result.rows as unknown[][]).map((row) => row.map(plain)),
      };
    } catch (error) {
      throw queryFailed(error);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
    }
  } finally {
    await own?.end().catch(() => {});
  }
}

/** A value as JSON shows it: bytes as PostgreSQL's hex form, times as ISO strings. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

function queryFailed(error: unknown): DlqError | UsageError {
  const code = (error as { code?: string }).code;
  const text = describe(error);
  if (code === '42601' && /multiple commands|prepared statement/i.test(text)) {
    return new UsageError(`${HOW}; this text holds more than one statement: run them one at a time`);
  }
  // 42501 insufficient_privilege, 25006 read_only_sql_transaction, 42883 undefined function (dblink, lo_*...).
  if (code === '42501' || code === '25006') {
    return new UsageError(
      `${HOW} on the letters alone; this one reaches outside them or changes something, which dlq sql refuses: ${text}`,
    );
  }
  return new DlqError(`the query failed: ${text}; the table is dead_letters (see the README for its columns)`, {
    cause: error,
  });
}
