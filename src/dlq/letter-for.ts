import type { DeliveryMeta } from '../delivery.js';
import type { DeadLetterOutcome } from '../outcome.js';
import type { DeadLetterInput, Fingerprint } from './dlq.js';

/** What the dead-letter row needs to know about the message, wherever it came from. */
export interface LetterSource {
  readonly id: string;
  readonly body: Buffer;
  readonly meta?: DeliveryMeta;
}

/** The dead-letter row for a message that failed with `outcome`. */
export function letterFor(
  source: LetterSource,
  outcome: DeadLetterOutcome,
  handler: string | null,
  fingerprint: Fingerprint,
  attempts = 1,
  confidential = false,
): DeadLetterInput {
  const { source: from, ...rest } = source.meta ?? {};
  return {
    id: source.id,
    body: source.body,
    reason: outcome.reason,
    error: outcome.error,
    handler,
    source: from ?? null,
    headers: Object.keys(rest).length > 0 ? rest : null,
    attempts,
    fingerprint,
    confidential,
  };
}
