import { whereOf, type PageFilter, type SqlDialect } from './page-filter.js';

/**
 * The page's queries, run through the store's read-only `sql()` (so confidential bodies and errors are NULL) and
 * built from constants, with request values only through `sqlString`. Every one aggregates or pages in
 * DuckDB: the page never loads every letter.
 */

/** The chart's windows: how far back, and how wide a bar. */
export const WINDOWS = {
  hour: { seconds: 3600, bucket: 60 },
  day: { seconds: 86_400, bucket: 900 },
  week: { seconds: 604_800, bucket: 3600 },
} as const;
export type ChartWindow = keyof typeof WINDOWS;

/** Reasons the chart stacks by name; the rest are one band, "other reasons". */
export const CHART_REASONS = 6;
/** Rows of each count table. */
export const COUNT_ROWS = 12;
/** The store's order, which for a file or stdin run is line order. */
const ORDER = 'ORDER BY first_failed_at, id, key';

function and(where: string, term: string): string {
  return where === '' ? `WHERE ${term}` : `${where} AND ${term}`;
}

/** Letters per time bucket and reason (the top {@link CHART_REASONS}, else NULL), in the window ending `now`. */
export function chartSql(filter: PageFilter, window: ChartWindow, now: Date, dialect: SqlDialect = 'duckdb'): string {
  const { bucket } = WINDOWS[window];
  const where = and(whereOf(filter, dialect), `last_failed_at >= to_timestamp(${chartStart(window, now)})`);
  // PostgreSQL: float8, since its BIGINT reaches JavaScript as a string; no GROUP BY ALL.
  const epoch = dialect === 'postgres' ? 'extract(epoch FROM last_failed_at)' : 'epoch(last_failed_at)';
  const type = dialect === 'postgres' ? 'FLOAT8' : 'BIGINT';
  return `WITH w AS (SELECT reason, CAST(floor(${epoch} / ${bucket}) * ${bucket} AS ${type}) AS t
      FROM dead_letters ${where}),
    top AS (SELECT reason FROM w GROUP BY reason ORDER BY count(*) DESC, reason LIMIT ${CHART_REASONS})
  SELECT t, CASE WHEN reason IN (SELECT reason FROM top) THEN reason END AS reason, CAST(count(*) AS INTEGER) AS n
  FROM w GROUP BY 1, 2 ORDER BY t`;
}

/** The first second of the chart's window and its bucket width, for the page to lay out empty buckets. */
export function chartStart(window: ChartWindow, now: Date): number {
  const { seconds, bucket } = WINDOWS[window];
  return Math.floor(now.getTime() / 1000 / bucket) * bucket - seconds + bucket;
}

/** How many letters the filter selects. */
export function totalSql(filter: PageFilter, dialect: SqlDialect = 'duckdb'): string {
  return `SELECT CAST(count(*) AS INTEGER) AS n FROM dead_letters ${whereOf(filter, dialect)}`;
}

/** Letters per value of `column` (reason or handler), most first. */
export function countsSql(filter: PageFilter, column: 'reason' | 'handler', dialect: SqlDialect = 'duckdb'): string {
  return `SELECT ${column} AS value, CAST(count(*) AS INTEGER) AS n FROM dead_letters ${whereOf(filter, dialect)}
    GROUP BY ${column} ORDER BY n DESC, value NULLS LAST LIMIT ${COUNT_ROWS}`;
}

/** Characters of the body a table row shows. */
const PREVIEW = 80;

/**
 * One page of the table, in the store's order. The preview is the body as text when it is UTF-8, else DuckDB's
 * escaped form of the bytes; NULL for a confidential letter (the masked view).
 */
export function pageSql(filter: PageFilter, limit: number, offset: number, dialect: SqlDialect = 'duckdb'): string {
  // PostgreSQL has no try(): its preview is the bytes in its escape form, which is the text itself for ASCII.
  const [time, preview] =
    dialect === 'postgres'
      ? [
          `to_char(last_failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`,
          `left(encode(body, 'escape'), ${PREVIEW})`,
        ]
      : [
          `strftime(last_failed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')`,
          `coalesce(try(left(decode(body), ${PREVIEW})), left(CAST(body AS VARCHAR), ${PREVIEW}))`,
        ];
  return `SELECT key, id, reason, handler, source, attempts, ${time} AS last_failed_at,
      confidential, octet_length(body) AS bytes, ${preview} AS preview
    FROM dead_letters ${whereOf(filter, dialect)} ${ORDER} LIMIT ${Math.trunc(limit)} OFFSET ${Math.trunc(offset)}`;
}

/** The keys of every letter the filter selects, in the store's order: what an action on "the filtered" acts on. */
export function keysSql(filter: PageFilter, dialect: SqlDialect = 'duckdb'): string {
  return `SELECT key FROM dead_letters ${whereOf(filter, dialect)} ${ORDER}`;
}

/** The distinct sources (for the filter's list), most letters first. */
export function sourcesSql(): string {
  return `SELECT source AS value, CAST(count(*) AS INTEGER) AS n FROM dead_letters WHERE source IS NOT NULL
    GROUP BY source ORDER BY n DESC LIMIT ${COUNT_ROWS * 4}`;
}
