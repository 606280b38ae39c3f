import type { DeadLetter, DeadLetterInput, DlqFilter } from './dlq.js';
import { letterKey } from './letter-key.js';

/** The stored letter that results from putting `input` over `existing`, the letter with its key (see `Dlq.put`). */
export function mergeLetter(existing: DeadLetter | undefined, input: DeadLetterInput, key?: string): DeadLetter {
  const failedAt = input.failedAt ?? new Date();
  const attempts = input.attempts ?? 1;
  return {
    key: key ?? letterKey(input.source, input.id, input.body),
    id: input.id,
    body: input.body,
    reason: input.reason,
    error: input.error ?? null,
    handler: input.handler ?? null,
    source: input.source ?? null,
    headers: input.headers ? { ...input.headers } : null,
    attempts: existing ? Math.max(existing.attempts + 1, attempts) : attempts,
    firstFailedAt: existing ? existing.firstFailedAt : failedAt,
    lastFailedAt: failedAt,
    fingerprint: input.fingerprint ?? null,
    confidential: input.confidential === true,
  };
}

/** Whether a letter is selected by a filter; a reason ending in `*` matches as a prefix. */
export function matchesFilter(letter: DeadLetter, filter: DlqFilter): boolean {
  if (filter.reason !== undefined) {
    const prefix = filter.reason.endsWith('*') ? filter.reason.slice(0, -1) : undefined;
    if (prefix !== undefined ? !letter.reason.startsWith(prefix) : letter.reason !== filter.reason) return false;
  }
  if (filter.handler !== undefined && letter.handler !== filter.handler) return false;
  if (filter.since !== undefined && letter.lastFailedAt < filter.since) return false;
  return true;
}

/** Oldest first failure first, then in line order where ids end in one, then by id and key: stable listings. */
export function compareByAge(a: DeadLetter, b: DeadLetter): number {
  return (
    a.firstFailedAt.getTime() - b.firstFailedAt.getTime() ||
    compareLines(lineOf(a.id), lineOf(b.id)) ||
    compareText(a.id, b.id) ||
    compareText(a.key, b.key)
  );
}

/** The line number an id ends in (`orders.jsonl:42`), as the DuckDB store's listing orders by; null for none. */
function lineOf(id: string): number | null {
  const match = /:(\d+)$/.exec(id);
  return match ? Number(match[1]) : null;
}

function compareLines(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The letter `get(keyOrId)` answers with, out of the letter with that key and the letters with that id. */
export function pickLetter(byKey: DeadLetter | undefined, byId: readonly DeadLetter[]): DeadLetter | undefined {
  if (byKey) return byKey;
  let last: DeadLetter | undefined;
  for (const letter of byId) if (!last || letter.lastFailedAt >= last.lastFailedAt) last = letter;
  return last;
}
