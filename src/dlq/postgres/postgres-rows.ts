import { DlqError, InvalidOptionError, describe } from '../../errors.js';
import type { DeadLetter, DeadLetterInput, DlqFilter, Fingerprint } from '../dlq.js';
import { filterWhere } from '../letter-filter.js';
import { letterKey } from '../letter-key.js';
import { TABLE } from './postgres-schema.js';

const INT32_MAX = 0x7fffffff;

import { COLUMNS } from '../letter-columns.js';

export { COLUMNS };
const TYPES = [
  'text',
  'text',
  'bytea',
  'text',
  'text',
  'text',
  'text',
  'jsonb',
  'int4',
  'timestamptz',
  'timestamptz',
  'text',
  'text',
  'int4',
  'text',
  'bool',
] as const;
const REPLACED = COLUMNS.filter((c) => c !== 'key' && c !== 'id' && c !== 'attempts' && c !== 'first_failed_at');

/** One row per key of a put, as the upsert takes it, with how often its key occurs in the put. */
export interface Row {
  readonly values: readonly unknown[];
  readonly key: string;
  readonly attempts: number;
  readonly occurrences: number;
  readonly firstFailedAt: string;
}

export const SELECT = `SELECT ${COLUMNS.join(', ')} FROM ${TABLE}`;
/** The store's order (and the page cursor's), as the DuckDB store's. */
export const ORDER = 'ORDER BY first_failed_at, id, key';
/** Listings, for people: line order where ids end in a line number (`file:2` before `file:10`). */
export const LIST_ORDER =
  "ORDER BY first_failed_at, CASE WHEN id ~ ':[0-9]{1,18}$' THEN substring(id from ':([0-9]+)$')::bigint END NULLS LAST, id, key";

/**
 * One statement for a whole put: the rows as one array per column, unnested, upserted by key. A stored key gets
 * the same-message rules of `Dlq.put`: attempts is the larger of stored + occurrences and the folded new count,
 * first_failed_at stays. Rows are sorted by key, so two writers upserting overlapping keys lock them in one order
 * and cannot deadlock each other.
 */
export function upsertOf(rows: readonly Row[]): { text: string; values: unknown[] } {
  const sorted = [...rows].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const values = COLUMNS.map((_, column) => sorted.map((row) => row.values[column]));
  values.push(sorted.map((row) => row.occurrences));
  const unnest = COLUMNS.map((_, i) => `$${i + 1}::${TYPES[i]}[]`).join(', ');
  const occurrences = `$${COLUMNS.length + 1}::int4[]`;
  const text = `INSERT INTO ${TABLE} AS d (${COLUMNS.join(', ')})
SELECT ${COLUMNS.join(', ')} FROM unnest(${unnest}) AS s(${COLUMNS.join(', ')})
ON CONFLICT (key) DO UPDATE SET ${REPLACED.map((c) => `${c} = excluded.${c}`).join(', ')},
  attempts = greatest(d.attempts + (SELECT o FROM unnest($1::text[], ${occurrences}) AS u(k, o) WHERE u.k = excluded.key LIMIT 1), excluded.attempts)`;
  return { text, values };
}

/** Validates and converts one input; done in `put` itself so a bad letter fails only its own put. */
export function toRow(input: DeadLetterInput, fallback: Fingerprint | null, now: Date): Row {
  const failedAt = input.failedAt ?? now;
  if (!Number.isFinite(failedAt.getTime())) throw new DlqError(`dead letter ${input.id}: failedAt is not a valid date`);
  let headers: string | null;
  try {
    headers = input.headers ? JSON.stringify(input.headers) : null;
  } catch (error) {
    throw new DlqError(`dead letter ${input.id}: its headers cannot be stored as JSON (${describe(error)})`, {
      cause: error,
    });
  }
  const fingerprint = input.fingerprint ?? fallback;
  if (fingerprint) int32(fingerprint.pid, 'fingerprint pid', input.id);
  const attempts = int32(input.attempts ?? 1, 'attempts', input.id);
  const at = failedAt.toISOString();
  // The key is the message's own (computed from the id and source as given); only what is stored is made fit.
  const key = letterKey(input.source, input.id, input.body);
  return {
    key,
    attempts,
    occurrences: 1,
    firstFailedAt: at,
    values: [
      key,
      text(input.id),
      input.body,
      text(input.reason),
      text(input.error),
      text(input.handler),
      text(input.source),
      headers === null ? null : headers.replace(JSON_NUL, '$1\\ufffd'),
      attempts,
      at,
      at,
      text(fingerprint?.name),
      text(fingerprint?.host),
      fingerprint?.pid ?? null,
      text(fingerprint?.version),
      input.confidential === true,
    ],
  };
}

/**
 * PostgreSQL text holds no NUL character, and jsonb no `\u0000`: an error that quotes a binary body would fail
 * the whole put, and its messages could never be acked. Stored as U+FFFD instead, as a decoder shows a bad byte.
 */
function text(value: string | null | undefined): string | null {
  return value == null ? null : value.replaceAll('\0', '\uFFFD');
}

/** `\u0000` in JSON text, not preceded by an escaped backslash (`\\u0000` is a backslash, then `u0000`). */
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/** One row per key, folded in put order as putting the letters one by one would (see the DuckDB store). */
export function mergeRows(rows: readonly Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const row of rows) {
    const seen = byKey.get(row.key);
    if (!seen) {
      byKey.set(row.key, row);
      continue;
    }
    const attempts = Math.max(seen.attempts + 1, row.attempts);
    const values = [...row.values];
    values[8] = attempts;
    values[9] = seen.firstFailedAt;
    byKey.set(row.key, {
      ...row,
      values,
      attempts,
      firstFailedAt: seen.firstFailedAt,
      occurrences: seen.occurrences + 1,
    });
  }
  return [...byKey.values()];
}

export function toLetter(row: Record<string, unknown>): DeadLetter {
  return {
    key: row['key'] as string,
    id: row['id'] as string,
    body: row['body'] as Buffer,
    reason: row['reason'] as string,
    error: row['error'] as string | null,
    handler: row['handler'] as string | null,
    source: row['source'] as string | null,
    headers: row['headers'] as Record<string, unknown> | null,
    attempts: row['attempts'] as number,
    firstFailedAt: row['first_failed_at'] as Date,
    lastFailedAt: row['last_failed_at'] as Date,
    fingerprint:
      row['fingerprint_name'] === null
        ? null
        : {
            name: row['fingerprint_name'] as string,
            host: row['fingerprint_host'] as string,
            pid: row['fingerprint_pid'] as number,
            ...(row['fingerprint_version'] === null ? {} : { version: row['fingerprint_version'] as string }),
          },
    confidential: row['confidential'] === true,
  };
}

/** The WHERE clause for a filter (see {@link filterWhere}), its values appended to `params`. */
export function whereOf(filter: DlqFilter, params: unknown[]): string {
  const bind = (value: unknown): string => `$${params.push(value)}`;
  return filterWhere(filter, bind, (date) => date.toISOString());
}

function int32(value: number, what: string, id: string): number {
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw new DlqError(`dead letter ${id}: ${what} must be an integer from 0 to ${INT32_MAX}, got ${value}`);
  }
  return value;
}

export function nonNegative(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidOptionError(`${what} must be a non-negative integer, got ${value}`);
  return value;
}
