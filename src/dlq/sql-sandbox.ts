import { StatementType, type DuckDBConnection } from './duckdb-api.js';
import { DlqError, UsageError, describe } from '../errors.js';
import { maskWithView, maskedCopy } from './masking.js';

/** The result of a query: column names and rows of plain JSON-friendly values. */
export interface SqlResult {
  readonly columns: string[];
  readonly rows: unknown[][];
}

/** Options of {@link runReadOnlySql}. */
export interface ReadOnlySqlOptions {
  /** Show the body, error and headers of confidential letters instead of NULL. Default false. */
  readonly reveal?: boolean;
  /**
   * The statement is missive's own (the `dlq serve` page's, values quoted as literals), never text a user wrote:
   * it reads through a masking view in the store's instance instead of a masked copy (see masking.ts), which
   * a page refresh at 100,000 letters could not afford six times. Default false.
   * @internal
   */
  readonly builtIn?: boolean;
}

/**
 * DuckDB settings of every instance a user's SQL can reach: nothing outside the store (no files read or written, no
 * directory listed, no database attached, no extension installed or loaded), and the settings locked so that no
 * statement can turn them back on. Set when the instance is created, because a locked configuration cannot change.
 */
export const LOCKED_DOWN: Readonly<Record<string, string>> = {
  enable_external_access: 'false',
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
  lock_configuration: 'true',
};

/**
 * The leading keywords of the queries `dlq sql` takes. DuckDB rewrites some other statements (`PRAGMA version`) to
 * a SELECT, so the statement type alone would let them through; `EXPLAIN ANALYZE` runs its statement, so EXPLAIN
 * is not here either.
 */
const QUERY_KEYWORDS = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'TABLE', 'DESCRIBE', 'SHOW', 'SUMMARIZE']);

const HOW = 'dlq sql runs one read-only query (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW or SUMMARIZE)';

/**
 * Runs one user query against the store `connection` reads, whose instance was created with {@link LOCKED_DOWN}:
 * exactly one statement, a query by its type and by its first keyword, inside a read-only transaction (so even a
 * table function with side effects cannot write). Unless `reveal`, the statement runs in an instance of its own
 * on a copy of `dead_letters` in which confidential letters have NULL body, error and headers (see masking.ts):
 * no name the statement can spell reaches the stored values. Close `connection` afterwards.
 */
export async function runReadOnlySql(
  connection: DuckDBConnection,
  sql: string,
  options: ReadOnlySqlOptions = {},
): Promise<SqlResult> {
  if (options.reveal) return runChecked(connection, sql, async () => {});
  if (options.builtIn) return runChecked(connection, sql, () => maskWithView(connection));
  const copy = await maskedCopy(connection, LOCKED_DOWN);
  try {
    // Filled once the statement passed its checks, so a refused statement costs no copy.
    return await runChecked(copy.connection, sql, () => copy.fill());
  } finally {
    copy.close();
  }
}

/** Checks `sql` on `connection` (see runReadOnlySql), then runs `prepare`, then the query, read-only. */
async function runChecked(connection: DuckDBConnection, sql: string, prepare: () => Promise<void>): Promise<SqlResult> {
  const keyword = firstKeyword(sql);
  // DuckDB fails on a text without statements with no message worth showing.
  if (keyword === '') throw new UsageError(`${HOW}; this text holds none: give one, quoted`);
  const statements = await connection.extractStatements(sql).catch((error: unknown) => {
    throw queryFailed(error);
  });
  if (statements.count !== 1) {
    throw new UsageError(`${HOW}; this text holds ${statements.count} statements: run them one at a time`);
  }
  const refused = () =>
    new UsageError(`${HOW}; ${keyword} is refused, because dlq sql never changes the store or reads outside it`);
  // By keyword first: preparing a statement that names a file already fails, with a less telling message.
  if (!QUERY_KEYWORDS.has(keyword)) throw refused();
  const prepared = await statements.prepare(0).catch((error: unknown) => {
    throw queryFailed(error);
  });
  if (prepared.statementType !== StatementType.SELECT) throw refused();
  await prepare();
  await connection.run('BEGIN TRANSACTION READ ONLY');
  try {
    const reader = await connection.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] };
  } catch (error) {
    throw queryFailed(error);
  } finally {
    await connection.run('ROLLBACK');
  }
}

/** The statement's first word, after comments and opening parentheses, in upper case. */
export function firstKeyword(sql: string): string {
  const rest = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/, '');
  return (/^[A-Za-z_]+/.exec(rest)?.[0] ?? '').toUpperCase();
}

function queryFailed(error: unknown): DlqError | UsageError {
  if (/^Permission Error/i.test(describe(error))) {
    return new UsageError(
      `${HOW} on the store alone; this one reaches outside it (a file, a directory, another ` +
        `database or an extension), which dlq sql refuses: ${describe(error)}`,
    );
  }
  return new DlqError(
    `the query failed: ${describe(error)}; the table is dead_letters (see the README for its columns)`,
    {
      cause: error,
    },
  );
}
