import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The header a signed request carries. */
export const SIGNATURE_HEADER = 'x-missive-signature';

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/**
 * The digest a request's signature header claims, or undefined when the header is missing or not of the form
 * `sha256=<64 hex digits>`. Read from the headers alone, so an unsigned request is refused before its body is.
 */
export function claimedSignature(headers: IncomingHttpHeaders): Buffer | undefined {
  const header = headers[SIGNATURE_HEADER];
  const match = typeof header === 'string' ? SIGNATURE.exec(header.trim()) : null;
  return match ? Buffer.from(match[1]!, 'hex') : undefined;
}

/** Whether `claimed` is the HMAC-SHA256 of `body` keyed with `secret`, compared in constant time. */
export function signatureMatches(secret: Buffer, claimed: Buffer, body: Buffer): boolean {
  return timingSafeEqual(claimed, createHmac('sha256', secret).update(body).digest());
}
