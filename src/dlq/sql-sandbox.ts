import { StatementType, type DuckDBConnection } from './duckdb-api.js';
import { DlqError, UsageError, describe } from '../errors.js';

/** The result of a query: column names and rows of plain JSON-friendly values. */
export interface SqlResult {
  readonly columns: string[];
  readonly rows: unknown[][];
}

/** Options of {@link runReadOnlySql}. */
export interface ReadOnlySqlOptions {
  /** Show the body, error and headers of confidential letters instead of NULL. Default false. */
  readonly reveal?: boolean;
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
 * Runs one user query on `connection`, whose instance was created with {@link LOCKED_DOWN}: exactly one
 * statement, a query by its type and by its first keyword, inside a read-only transaction (so even a table function
 * with side effects cannot write). `dead_letters` is a view of the table in which confidential letters show NULL
 * body, error and headers unless `reveal`; the view lives only in this connection, so close it afterwards.
 */
export async function runReadOnlySql(
  connection: DuckDBConnection,
  sql: string,
  options: ReadOnlySqlOptions = {},
): Promise<SqlResult> {
  const keyword = firstKeyword(sql);
  // DuckDB fails on a text without statements with no message worth showing.
  if (keyword === '') throw new UsageError(`${HOW}; this text holds none: give one, quoted`);
  const statements = await connection.extractStatements(sql).catch((error: unknown) => {
    throw queryFailed(error);
  });
  if (statements.count !== 1) {
    throw new UsageError(
      `${HOW}; this text holds ${statements.count} statements: run them one at a time`,
    );
  }
  const prepared = await statements.prepare(0).catch((error: unknown) => {
    throw queryFailed(error);
  });
  if (prepared.statementType !== StatementType.SELECT || !QUERY_KEYWORDS.has(keyword)) {
    throw new UsageError(`${HOW}; ${keyword || 'this statement'} is refused, because dlq sql never changes the store or reads outside it`);
  }
  await connection.run('BEGIN TRANSACTION READ ONLY');
  try {
    if (!options.reveal) await maskConfidential(connection);
    const reader = await connection.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] };
  } catch (error) {
    throw queryFailed(error);
  } finally {
    await connection.run('ROLLBACK');
  }
}

/**
 * Shadows the table with a temporary view of the same name: temporary objects are found first, also for
 * `main.dead_letters`. Whoever means to see the stored values can name the table by its database
 * (`<file name>.dead_letters`) or pass `--reveal`; the view is there so that nobody sees a confidential body by
 * accident, not to keep the file's owner from their own file.
 */
async function maskConfidential(connection: DuckDBConnection): Promise<void> {
  const database = (await connection.runAndReadAll('SELECT current_database()')).getRows()[0]![0] as string;
  const table = `${quoteIdentifier(database)}.main.dead_letters`;
  const masked = ['body', 'error', 'headers'].map((c) => `CASE WHEN confidential THEN NULL ELSE ${c} END AS ${c}`);
  await connection.run(`CREATE TEMP VIEW dead_letters AS SELECT * REPLACE (${masked.join(', ')}) FROM ${table}`);
}

/** The statement's first word, after comments and opening parentheses, in upper case. */
export function firstKeyword(sql: string): string {
  const rest = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/, '');
  return (/^[A-Za-z_]+/.exec(rest)?.[0] ?? '').toUpperCase();
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function queryFailed(error: unknown): DlqError | UsageError {
  if (/^Permission Error/i.test(describe(error))) {
    return new UsageError(`${HOW} on the store alone; this one reaches outside it (a file, a directory, another ` +
      `database or an extension), which dlq sql refuses: ${describe(error)}`);
  }
  return new DlqError(`the query failed: ${describe(error)}; the table is dead_letters (see the README for its columns)`, {
    cause: error,
  });
}
