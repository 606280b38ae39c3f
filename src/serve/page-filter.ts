import { InvalidOptionError } from '../errors.js';

/** What the page's filters select: every field narrows the selection, none selects every letter. */
export interface PageFilter {
  /** Exact reason, or a prefix ending in `*`, as `--reason` takes it. */
  readonly reason?: string;
  readonly handler?: string;
  readonly source?: string;
  /** Letters whose last failure is at or after this time. */
  readonly since?: Date;
  /** Text the error contains, in any case. Confidential letters' errors are masked, so they never match. */
  readonly text?: string;
}

const FIELDS = ['reason', 'handler', 'source', 'since', 'text'] as const;
/** Longer filter values are no filter a person typed. */
const MAX_LENGTH = 500;

/** The filter from request values (query parameters or a JSON object); empty values are no filter. */
export function pageFilterOf(values: Readonly<Record<string, unknown>>): PageFilter {
  const filter: Record<string, string | Date> = {};
  for (const field of FIELDS) {
    const value = values[field];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string' || value.length > MAX_LENGTH || value.includes('\0')) {
      throw new InvalidOptionError(`the ${field} filter takes text of at most ${MAX_LENGTH} characters`);
    }
    if (field === 'since') {
      const since = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : undefined;
      if (!since || Number.isNaN(since.getTime())) {
        throw new InvalidOptionError(
          `the since filter takes an ISO time with its zone (2024-05-01T12:00:00Z), got '${value}'`,
        );
      }
      filter[field] = since;
    } else filter[field] = value;
  }
  return filter as PageFilter;
}

/**
 * A SQL string literal. The store's `sql()` takes no bound parameters, so every value from a request reaches SQL
 * only through here: quotes doubled (DuckDB's literals have no other escape), NUL refused by {@link pageFilterOf}.
 */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Which SQL the store speaks: a DuckDB file's, or PostgreSQL's (`PostgresDlq`). */
export type SqlDialect = 'duckdb' | 'postgres';

/** The dialect of a store's `sql()`: PostgreSQL's for a store that says so, else DuckDB's. */
export function dialectOf(store: object): SqlDialect {
  return (store as { sqlDialect?: unknown }).sqlDialect === 'postgres' ? 'postgres' : 'duckdb';
}

/** The WHERE clause (or '') selecting the filter's letters from `dead_letters`. */
export function whereOf(filter: PageFilter, dialect: SqlDialect = 'duckdb'): string {
  const terms: string[] = [];
  if (filter.reason !== undefined) {
    terms.push(
      filter.reason.endsWith('*')
        ? `starts_with(reason, ${sqlString(filter.reason.slice(0, -1))})`
        : `reason = ${sqlString(filter.reason)}`,
    );
  }
  if (filter.handler !== undefined) terms.push(`handler = ${sqlString(filter.handler)}`);
  if (filter.source !== undefined) terms.push(`source = ${sqlString(filter.source)}`);
  if (filter.since !== undefined) terms.push(`last_failed_at >= ${sqlString(filter.since.toISOString())}::TIMESTAMPTZ`);
  if (filter.text !== undefined) {
    const text = sqlString(filter.text);
    terms.push(
      dialect === 'postgres' ? `strpos(lower(error), lower(${text})) > 0` : `contains(lower(error), lower(${text}))`,
    );
  }
  return terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
}
