import { createHash } from 'node:crypto';

/** Hex characters of a letter key: 128 bits, so two different messages never share one in practice. */
export const LETTER_KEY_LENGTH = 32;

/**
 * The key of a dead letter: what makes it one message rather than another. Transports reuse ids (an AMQP
 * `messageId` or an HTTP `Idempotency-Key` set by the sender, entry ids of two Redis streams), so the id alone
 * cannot be it; the same message failing again has the same source, id and bytes, so a digest of the three is.
 * Each part is length-prefixed, so no two different triples hash the same bytes. Every store computes keys here.
 */
export function letterKey(source: string | null | undefined, id: string, body: Uint8Array): string {
  const hash = createHash('sha256');
  part(hash, source === null || source === undefined ? undefined : Buffer.from(source, 'utf8'));
  part(hash, Buffer.from(id, 'utf8'));
  part(hash, body);
  return hash.digest('hex').slice(0, LETTER_KEY_LENGTH);
}

/** Whether a string has the shape of a letter key, so `show` can tell a key from an id. */
export function looksLikeLetterKey(text: string): boolean {
  return text.length === LETTER_KEY_LENGTH && /^[0-9a-f]+$/.test(text);
}

function part(hash: ReturnType<typeof createHash>, bytes: Uint8Array | undefined): void {
  const length = Buffer.alloc(9);
  // A missing source is not the empty string: the flag byte tells them apart.
  length.writeUInt8(bytes === undefined ? 0 : 1, 0);
  length.writeBigUInt64BE(BigInt(bytes?.length ?? 0), 1);
  hash.update(length);
  if (bytes !== undefined) hash.update(bytes);
}
