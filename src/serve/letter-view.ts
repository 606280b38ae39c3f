import type { DeadLetter, Fingerprint } from '../dlq/dlq.js';
import { isMasked } from '../cli/dlq-format.js';

/** One letter as the page shows it in full. A masked letter has no body, error or headers at all. */
export interface LetterView {
  readonly key: string;
  readonly id: string;
  readonly reason: string;
  readonly handler: string | null;
  readonly source: string | null;
  readonly attempts: number;
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  readonly fingerprint: Fingerprint | null;
  readonly confidential: boolean;
  readonly bytes: number;
  readonly masked: boolean;
  /** The body's bytes, base64: the page shows them as text, JSON or hex. */
  readonly bodyBase64?: string;
  readonly error?: string | null;
  readonly headers?: Record<string, unknown> | null;
}

/** The view of `letter`, masked by the one rule (`isMasked`) unless `reveal`. */
export function letterView(letter: DeadLetter, reveal: boolean): LetterView {
  const masked = isMasked(letter, reveal);
  return {
    key: letter.key,
    id: letter.id,
    reason: letter.reason,
    handler: letter.handler,
    source: letter.source,
    attempts: letter.attempts,
    firstFailedAt: letter.firstFailedAt.toISOString(),
    lastFailedAt: letter.lastFailedAt.toISOString(),
    fingerprint: letter.fingerprint,
    confidential: letter.confidential,
    bytes: letter.body.length,
    masked,
    ...(masked ? {} : { bodyBase64: letter.body.toString('base64'), error: letter.error, headers: letter.headers }),
  };
}
