import { whereOf, type PageFilter } from './page-filter.js';

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
export function chartSql(filter: PageFilter, window: ChartWindow, now: Date): string {
  const { bucket } = WINDOWS[window];
  const where = and(whereOf(filter), `last_failed_at >= to_timestamp(${chartStart(window, now)})`);
  return `WITH w AS (SELECT reason, CAST(floor(epoch(last_failed_at) / ${bucket}) * ${bucket} AS BIGINT) AS t
      FROM dead_letters ${where}),
    top AS (SELECT reason FROM w GROUP BY reason ORDER BY count(*) DESC, reason LIMIT ${CHART_REASONS})
  SELECT t, CASE WHEN reason IN (SELECT reason FROM top) THEN reason END AS reason, CAST(count(*) AS INTEGER) AS n
  FROM w GROUP BY ALL ORDER BY t`;
}

/** The first second of the chart's window and its bucket width, for the page to lay out empty buckets. */
export function chartStart(window: ChartWindow, now: Date): number {
  const { seconds, bucket } = WINDOWS[window];
  return Math.floor(now.getTime() / 1000 / bucket) * bucket - seconds + bucket;
}

/** How many letters the filter selects. */
export function totalSql(filter: PageFilter): string {
  return `SELECT CAST(count(*) AS INTEGER) AS n FROM dead_letters ${whereOf(filter)}`;
}

/** Letters per value of `column` (reason or handler), most first. */
export function countsSql(filter: PageFilter, column: 'reason' | 'handler'): string {
  return `SELECT ${column} AS value, CAST(count(*) AS INTEGER) AS n FROM dead_letters ${whereOf(filter)}
    GROUP BY ${column} ORDER BY n DESC, value NULLS LAST LIMIT ${COUNT_ROWS}`;
}

/** Characters of the body a table row shows. */
const PREVIEW = 80;

/**
 * One page of the table, in the store's order. The preview is the body as text when it is UTF-8, else DuckDB's
 * escaped form of the bytes; NULL for a confidential letter (the masked view).
 */
export function pageSql(filter: PageFilter, limit: number, offset: number): string {
  return `SELECT key, id, reason, handler, source, attempts, strftime(last_failed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS last_failed_at,
      confidential, octet_length(body) AS bytes,
      coalesce(try(left(decode(body), ${PREVIEW})), left(CAST(body AS VARCHAR), ${PREVIEW})) AS preview
    FROM dead_letters ${whereOf(filter)} ${ORDER} LIMIT ${Math.trunc(limit)} OFFSET ${Math.trunc(offset)}`;
}

/** The keys of every letter the filter selects, in the store's order: what an action on "the filtered" acts on. */
export function keysSql(filter: PageFilter): string {
  return `SELECT key FROM dead_letters ${whereOf(filter)} ${ORDER}`;
}

/** The distinct sources (for the filter's list), most letters first. */
export function sourcesSql(): string {
  return `SELECT source AS value, CAST(count(*) AS INTEGER) AS n FROM dead_letters WHERE source IS NOT NULL
    GROUP BY source ORDER BY n DESC LIMIT ${COUNT_ROWS * 4}`;
}
