import type { DeadLetter, DeadLetterInput, DlqFilter } from './dlq.js';

/** The stored letter that results from putting `input` over `existing` (see `Dlq.put`). */
export function mergeLetter(existing: DeadLetter | undefined, input: DeadLetterInput): DeadLetter {
  const failedAt = input.failedAt ?? new Date();
  const attempts = input.attempts ?? 1;
  return {
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

/** Oldest first failure first, then by id, so listings are stable. */
export function compareByAge(a: DeadLetter, b: DeadLetter): number {
  return a.firstFailedAt.getTime() - b.firstFailedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
