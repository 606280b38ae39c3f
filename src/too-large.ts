import type { Delivery } from './delivery.js';
import { Reasons, deadLetter, type DeadLetterOutcome } from './outcome.js';

/** How many leading bytes of a message over the size limit are kept as the body of its dead letter. */
export const SAMPLE_BYTES = 1024;

/**
 * The dead letter of a message over `--max-message-bytes`.
 * @param what names the message in the error, e.g. `line 42` or `entry 1-0`.
 * @param size the message's full size, which the kept sample no longer shows.
 */
export function tooLargeOutcome(what: string, size: number, limit: number): DeadLetterOutcome {
  return deadLetter(
    Reasons.tooLarge,
    `${what} is ${size} bytes, over the limit of ${limit} bytes (--max-message-bytes)`,
  );
}

/**
 * The delivery of a message over `--max-message-bytes`: it goes straight to the dead-letter store with reason
 * `message too large`, keeping only its first bytes (a copy, so the large buffer can be freed).
 *
 * @param what names the message in the error, e.g. `line 42` or `entry 1-0`.
 * @param size the message's full size, which the kept sample no longer shows.
 */
export function tooLarge<D extends Delivery>(delivery: D, what: string, size: number, limit: number): D {
  const { reason, error } = tooLargeOutcome(what, size, limit);
  return { ...delivery, body: sampleOf(delivery.body), rejected: { reason, error: error! } };
}

/** A copy of a message's first bytes. Unpooled: a pooled slice would keep Node's shared 8 KiB pool alive with it. */
export function sampleOf(body: Uint8Array): Buffer {
  const sample = Buffer.allocUnsafeSlow(Math.min(body.length, SAMPLE_BYTES));
  sample.set(body.subarray(0, sample.length));
  return sample;
}
