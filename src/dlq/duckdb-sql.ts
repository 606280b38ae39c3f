import { DuckDBInstance } from '@duckdb/node-api';
import { DlqError, DlqLockedError, describe } from '../errors.js';
import { isLockConflict } from './duckdb.js';
import { LOCKED_DOWN, runReadOnlySql, type ReadOnlySqlOptions, type SqlResult } from './sql-sandbox.js';

export type { SqlResult } from './sql-sandbox.js';

/**
 * Runs one read-only query against a dead-letter file that no process holds for writing: opened read-only and
 * locked down (see {@link runReadOnlySql}), so the query can neither change the file nor reach outside it.
 */
export async function queryDeadLetters(path: string, sql: string, options: ReadOnlySqlOptions = {}): Promise<SqlResult> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY', ...LOCKED_DOWN });
  } catch (error) {
    if (isLockConflict(error)) throw new DlqLockedError(path, { cause: error });
    throw new DlqError(`cannot open the dead-letter file ${path}: ${describe(error)}`, { cause: error });
  }
  const connection = await instance.connect();
  try {
    return await runReadOnlySql(connection, sql, options);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
