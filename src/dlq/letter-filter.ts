import { InvalidOptionError } from '../errors.js';
import type { DlqFilter } from './dlq.js';

/**
 * The WHERE clause of a letter filter, the same for every SQL store: SQL text from constants only, every value
 * bound as a parameter through `bind` (which returns its placeholder). `since` is the store's own form of the date
 * (`undefined` for a date that is not valid).
 */
export function filterWhere<V>(
  filter: DlqFilter,
  bind: (value: V | string) => string,
  since: (date: Date) => V | undefined,
): string {
  const clauses: string[] = [];
  if (filter.reason !== undefined) {
    clauses.push(
      filter.reason.endsWith('*')
        ? `starts_with(reason, ${bind(filter.reason.slice(0, -1))})`
        : `reason = ${bind(filter.reason)}`,
    );
  }
  if (filter.handler !== undefined) clauses.push(`handler = ${bind(filter.handler)}`);
  if (filter.since !== undefined) {
    const value = Number.isFinite(filter.since.getTime()) ? since(filter.since) : undefined;
    if (value === undefined) throw new InvalidOptionError(`since must be a valid date, got ${String(filter.since)}`);
    clauses.push(`last_failed_at >= ${bind(value)}`);
  }
  return clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '';
}
