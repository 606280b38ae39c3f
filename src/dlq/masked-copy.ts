import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** Columns a confidential letter shows as NULL unless revealed. */
const MASKED = ['body', 'error', 'headers'] as const;

/** An in-memory DuckDB instance that holds a masked copy of the store's `dead_letters` and nothing else. */
export interface MaskedCopy {
  /** A connection to the copy, whose only table is `dead_letters`. */
  readonly connection: DuckDBConnection;
  /** Fills the copy's table from the store (once; call it after the user's statement passed its checks). */
  fill(): Promise<void>;
  /** Closes the connection and frees the instance with its copy. */
  close(): void;
}

/**
 * Creates an instance of its own (with `config`, the store's locked-down settings) holding an empty
 * `dead_letters` with the columns and types of `source`'s table. A view in the store's instance would not do: any
 * statement run there can name the table by its database (`"<file name>".main.dead_letters`, `query_table(...)`,
 * `SUMMARIZE`), so the masked values must be the only ones the user's statement can reach.
 */
export async function maskedCopy(source: DuckDBConnection, config: Readonly<Record<string, string>>): Promise<MaskedCopy> {
  const columns = (await source.runAndReadAll(
    `SELECT column_name, data_type FROM duckdb_columns()
     WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'dead_letters'
     ORDER BY column_index`,
  )).getRows().map(([name, type]) => ({ name: String(name), type: String(type) }));
  const instance = await DuckDBInstance.create(':memory:', { ...config });
  let connection: DuckDBConnection | undefined;
  try {
    connection = await instance.connect();
    await connection.run(`CREATE TABLE dead_letters (${columns.map((c) => `${quoteIdentifier(c.name)} ${c.type}`).join(', ')})`);
  } catch (error) {
    connection?.closeSync();
    instance.closeSync();
    throw error;
  }
  const target = connection;
  const masked = columns.map((c) =>
    MASKED.includes(c.name as never) ? `CASE WHEN confidential THEN NULL ELSE ${c.name} END` : quoteIdentifier(c.name),
  );
  return {
    connection: target,
    async fill() {
      // Chunk by chunk, so the store never holds more than one chunk of the result for this copy.
      const result = await source.stream(`SELECT ${masked.join(', ')} FROM dead_letters`);
      const appender = await target.createAppender('dead_letters');
      try {
        for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
          appender.appendDataChunk(chunk);
        }
      } finally {
        appender.closeSync();
      }
    },
    close() {
      target.closeSync();
      instance.closeSync();
    },
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
