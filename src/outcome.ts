/**
 * What became of one message. A handler acks or nacks; anything that goes wrong becomes a dead letter with a
 * stable, short reason (the `reason` column of the dead-letter store) and the error text.
 */
export type Outcome = { readonly kind: 'ack' } | { readonly kind: 'nack' } | DeadLetterOutcome;

export interface DeadLetterOutcome {
  readonly kind: 'dead-letter';
  readonly reason: string;
  readonly error: string | null;
  /** Whether trying again might succeed (a handler error), as opposed to a routing or permanent failure. */
  readonly retryable: boolean;
}

/** Shared instances: acks and nacks are the common case and need no allocation. */
export const ACK: Outcome = Object.freeze({ kind: 'ack' });
export const NACK: Outcome = Object.freeze({ kind: 'nack' });

/** The dead-letter reasons missive-node writes. They are part of the public contract: users query by them. */
export const Reasons = Object.freeze({
  noMatch: 'no matching handler',
  multipleMatches: 'multiple matching handlers',
  matcherFailed: 'matcher failed',
  decodeFailed: 'decode failed',
  handlerFailed: 'handler failed',
  /** Work the handler started and did not await failed (a rejection, or a throw from a timer) while it ran. */
  unhandledError: 'unhandled error',
  hookFailed: 'hook failed',
  nacked: 'nacked',
  /** A message delivered more times than its transport's `maxDeliveries` (see `Adapter.deliveryLimit`). */
  tooManyDeliveries: 'too many deliveries',
  tooLarge: 'message too large',
  /** The last line of a file that shrank while it was read: cut short, so not handled as if it were whole. */
  inputTruncated: 'input truncated',
  workerExited: 'worker exited',
  replyFailed: 'reply failed',
});

/** The reason of a message whose handler ran past its timeout. */
export function timeoutReason(timeoutMs: number): string {
  return `timeout after ${timeoutMs} ms`;
}

export function deadLetter(reason: string, error: string | null, retryable = false): DeadLetterOutcome {
  return { kind: 'dead-letter', reason, error, retryable };
}
