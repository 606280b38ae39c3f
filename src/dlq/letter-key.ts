import { createHash } from 'node:crypto';

/** Hex characters of a letter key: 128 bits, so two different messages never share one in practice. */
export const LETTER_KEY_LENGTH = 32;

/**
 * The key of a dead letter: what makes it one message rather than another. Transports reuse ids (an AMQP
 * `messageId` or an HTTP `Idempotency-Key` set by the sender, entry ids of two Redis streams), so the id alone
 * cannot be it; the same message failing again has the same source, id and bytes, so a digest of the three is.
 * The digest covers `["<source>","<id>"]` as JSON (null for no source), a newline, then the body: JSON escapes
 * every newline and lone surrogate, so no two different triples hash the same bytes. Every store computes keys
 * here, also when migrating a file, and a letter computed here is found by `missive dlq show KEY`.
 */
export function letterKey(source: string | null | undefined, id: string, body: Uint8Array): string {
  return createHash('sha256')
    .update(`${JSON.stringify([source ?? null, id])}\n`)
    .update(body)
    .digest('hex')
    .slice(0, LETTER_KEY_LENGTH);
}

/** Whether a string has the shape of a letter key, so a lookup can tell a key from an id. */
export function looksLikeLetterKey(text: string): boolean {
  return text.length === LETTER_KEY_LENGTH && /^[0-9a-f]+$/.test(text);
}
