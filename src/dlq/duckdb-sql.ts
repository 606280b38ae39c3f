import { DuckDBInstance } from '@duckdb/node-api';
import { DlqError, DlqLockedError, describe } from '../errors.js';
import { isLockConflict } from './duckdb.js';

/** The result of a query: column names and rows of plain JSON-friendly values. */
export interface SqlResult {
  readonly columns: string[];
  readonly rows: unknown[][];
}

/**
 * Runs one SQL query against a dead-letter file, opened read-only: the file is the user's to query with anything
 * DuckDB understands, and read-only mode guarantees the query cannot change it.
 */
export async function queryDeadLetters(path: string, sql: string): Promise<SqlResult> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  } catch (error) {
    if (isLockConflict(error)) throw new DlqLockedError(path, { cause: error });
    throw new DlqError(`cannot open the dead-letter file ${path}: ${describe(error)}`, { cause: error });
  }
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] };
  } catch (error) {
    throw new DlqError(`the query failed: ${describe(error)}; the table is dead_letters (see the README for its columns)`, {
      cause: error,
    });
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
