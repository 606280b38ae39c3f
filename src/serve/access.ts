import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from './options.js';

/** The header that carries the token. A page on another origin cannot set it without the server's leave (CORS). */
export const TOKEN_HEADER = 'x-missive-token';

/** A token for the actions, when the user gave none: 128 random bits, URL-safe. */
export function generateToken(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Who may do what on the page:
 * - actions (replay, purge) and revealing a confidential letter need the token, always;
 * - reading needs it too, unless the server listens on loopback and the request comes from this machine to a
 *   loopback name: the Host check keeps a page whose domain resolves to 127.0.0.1 (DNS rebinding) from reading.
 */
export class Access {
  readonly #token: Buffer;
  readonly #loopback: boolean;

  constructor(token: string, listeningOnLoopback: boolean) {
    this.#token = Buffer.from(token);
    this.#loopback = listeningOnLoopback;
  }

  /** Whether the request carries the token. */
  hasToken(request: IncomingMessage): boolean {
    const given = request.headers[TOKEN_HEADER];
    if (typeof given !== 'string') return false;
    const bytes = Buffer.from(given);
    return bytes.length === this.#token.length && timingSafeEqual(bytes, this.#token);
  }

  /** Whether the request may read letters (masked as they are for everyone without the token). */
  mayRead(request: IncomingMessage): boolean {
    if (this.hasToken(request)) return true;
    if (!this.#loopback) return false;
    const from = request.socket.remoteAddress ?? '';
    const host = (request.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopbackHost(from) && isLoopbackHost(host);
  }
}
