import { DuckDBInstance, type DuckDBConnection } from './duckdb-api.js';

/**
 * How SQL sees confidential letters without `--reveal`: NULL body, error and headers. Two ways, one rule
 * ({@link maskedSelect}): a user's statement runs on a masked copy in an instance of its own ({@link maskedCopy}),
 * where no name reaches the stored values; a statement missive wrote itself (the `dlq serve` page's) reads
 * through a masking view in the store's own instance ({@link maskWithView}), which costs no copy but is only a
 * shadow: the stored table stays reachable by its database's name.
 */
const MASKED = ['body', 'error', 'headers'] as const;

/** The rows of `table` as SQL must see them without reveal, every column in the table's order. */
function maskedSelect(table: string): string {
  const masked = MASKED.map((c) => `CASE WHEN confidential THEN NULL ELSE ${c} END AS ${c}`);
  return `SELECT * REPLACE (${masked.join(', ')}) FROM ${table}`;
}

/** An in-memory DuckDB instance that holds a masked copy of the store's `dead_letters` and nothing else. */
export interface MaskedCopy {
  /** A connection to the copy, whose only table is `dead_letters` (empty until {@link fill}). */
  readonly connection: DuckDBConnection;
  /** Copies the store's letters, masked, into the table: call it once the user's statement passed its checks. */
  fill(): Promise<void>;
  /** Closes the connection and frees the instance with its copy. */
  close(): void;
}

/**
 * Creates an instance of its own (with `config`, the store's locked-down settings) with an empty `dead_letters`
 * of the columns and types of the table `source` reads. A view in the store's instance would not keep a user's
 * statement from naming the table by its database (`"missive-dlq".main.dead_letters`, `query_table(...)`,
 * `SUMMARIZE ...`); here the masked values are the only ones there are. The price is the copy: about 1.5 ms
 * per 1,000 letters (100,000 letters: 150 to 300 ms and their size in memory), for every statement.
 */
export async function maskedCopy(
  source: DuckDBConnection,
  config: Readonly<Record<string, string>>,
): Promise<MaskedCopy> {
  const columns = (
    await source.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns()
     WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'dead_letters'
     ORDER BY column_index`,
    )
  ).getRows();
  const instance = await DuckDBInstance.create(':memory:', { ...config });
  let connection: DuckDBConnection | undefined;
  try {
    connection = await instance.connect();
    await connection.run(
      `CREATE TABLE dead_letters (${columns.map(([name, type]) => `${quoteIdentifier(String(name))} ${String(type)}`).join(', ')})`,
    );
  } catch (error) {
    connection?.closeSync();
    instance.closeSync();
    throw error;
  }
  const target = connection;
  return {
    connection: target,
    async fill() {
      // Chunk by chunk: the store holds one chunk of the result at a time, whatever the table's size.
      const result = await source.stream(maskedSelect('dead_letters'));
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

/**
 * Shadows the table with a temporary view of the same name, masked; temporary objects are found first, also for
 * `main.dead_letters`. Only for statements missive wrote: the view lives in this connection only, so close it
 * afterwards.
 */
export async function maskWithView(connection: DuckDBConnection): Promise<void> {
  const database = (await connection.runAndReadAll('SELECT current_database()')).getRows()[0]![0] as string;
  await connection.run(
    `CREATE TEMP VIEW dead_letters AS ${maskedSelect(`${quoteIdentifier(database)}.main.dead_letters`)}`,
  );
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
