import type { DuckDBConnection, DuckDBBlobValue } from './duckdb-api.js';
import { DlqError } from '../errors.js';
import { letterKey } from './letter-key.js';

import { COLUMNS } from './letter-columns.js';

export { COLUMNS };

/** The table as missive-node 0.1 wrote it: `id` its primary key, so a reused id overwrote another message. */
export const LEGACY_COLUMNS = COLUMNS.filter((column) => column !== 'key');

/** Which shape a file's `dead_letters` table has. */
export type TableFormat = 'current' | 'legacy' | 'missing';

// No index besides the primary key: an ART index costs every append, while min/max zone maps already let scans
// on first_failed_at skip row groups (letters arrive roughly in failure order), and lookups by id or reason are
// cheap scans. The key is the digest of source, id and body (see letterKey): id is not unique.
export const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS dead_letters (
  key VARCHAR PRIMARY KEY,
  id VARCHAR NOT NULL,
  body BLOB NOT NULL,
  reason VARCHAR NOT NULL,
  error VARCHAR,
  handler VARCHAR,
  source VARCHAR,
  headers JSON,
  attempts INTEGER NOT NULL,
  first_failed_at TIMESTAMPTZ NOT NULL,
  last_failed_at TIMESTAMPTZ NOT NULL,
  fingerprint_name VARCHAR,
  fingerprint_host VARCHAR,
  fingerprint_pid INTEGER,
  fingerprint_version VARCHAR,
  confidential BOOLEAN NOT NULL DEFAULT false
)`;

/** Rows read per query while migrating: bounds memory whatever the table's size. */
const MIGRATION_PAGE = 2048;

/** The format of the `dead_letters` table in the connection's database; refuses a table made by something else. */
export async function tableFormat(file: string, connection: DuckDBConnection): Promise<TableFormat> {
  const reader = await connection.runAndReadAll(
    `SELECT column_name FROM duckdb_columns()
     WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'dead_letters'
     ORDER BY column_index`,
  );
  const found = reader.getRows().map((row) => String(row[0]));
  if (found.length === 0) return 'missing';
  if (found.join() === COLUMNS.join()) return 'current';
  if (found.join() === LEGACY_COLUMNS.join()) return 'legacy';
  throw new DlqError(
    `${file} has a dead_letters table with other columns (${found.join(', ')}), so it was not made by ` +
      'missive-node; choose another file, or move that table away',
  );
}

/**
 * Creates the table, or migrates a legacy one in place: in one transaction, so a crash or a failure leaves the
 * file as it was. Keys are computed here in JavaScript, by the one function every store uses, so a migrated
 * letter has the key the same message gets when it fails again.
 */
export async function prepareTable(file: string, connection: DuckDBConnection): Promise<void> {
  const format = await tableFormat(file, connection);
  if (format === 'current') return;
  if (format === 'missing') {
    await connection.run(CREATE_TABLE);
    return;
  }
  await connection.run('BEGIN TRANSACTION');
  try {
    await connection.run('CREATE TEMP TABLE dead_letter_keys (id VARCHAR, key VARCHAR)');
    const appender = await connection.createAppender('dead_letter_keys', 'main', 'temp');
    try {
      let last: string | undefined;
      for (;;) {
        const page = (
          await connection.runAndReadAll(
            `SELECT id, source, body FROM dead_letters ${last === undefined ? '' : 'WHERE id > $1'} ORDER BY id LIMIT ${MIGRATION_PAGE}`,
            last === undefined ? [] : [last],
          )
        ).getRows();
        for (const [id, source, body] of page) {
          appender.appendVarchar(id as string);
          appender.appendVarchar(letterKey(source as string | null, id as string, (body as DuckDBBlobValue).bytes));
          appender.endRow();
        }
        if (page.length < MIGRATION_PAGE) break;
        last = page.at(-1)![0] as string;
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    await connection.run(CREATE_TABLE.replace('dead_letters', 'dead_letters_migrated'));
    await connection.run(
      `INSERT INTO dead_letters_migrated SELECT k.key, ${LEGACY_COLUMNS.map((c) => `d.${c}`).join(', ')}
       FROM dead_letters AS d JOIN dead_letter_keys AS k ON d.id = k.id`,
    );
    await connection.run('DROP TABLE dead_letters');
    await connection.run('ALTER TABLE dead_letters_migrated RENAME TO dead_letters');
    await connection.run('DROP TABLE temp.dead_letter_keys');
    await connection.run('COMMIT');
  } catch (error) {
    await connection.run('ROLLBACK').catch(() => {});
    throw new DlqError(
      `${file} holds dead letters in the format of missive-node 0.1 and migrating them failed, so the file was ` +
        `left as it was: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
