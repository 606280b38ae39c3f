import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** What `missive dlq serve` is asked to do, as the command line gives it. */
export interface ServeOptions {
  /** The dead-letter file. */
  readonly dlq: string;
  /** The port to listen on; 0 picks a free one. Default 8081. */
  readonly port: number;
  /** The address to listen on. Default 127.0.0.1, so only this machine can reach the page. */
  readonly host: string;
  /** The token actions must carry; undefined to generate one at start. */
  readonly token: string | undefined;
  /** The processor module replays go through; without one the page cannot replay. */
  readonly processor: string | undefined;
}

export const DEFAULT_PORT = 8081;
export const DEFAULT_HOST = '127.0.0.1';
/** Shorter tokens are too easy to guess for a page that can delete letters. */
const MIN_TOKEN_LENGTH = 16;

/** Checks the options of `missive dlq serve` in one place; any problem is a usage error, reported before listening. */
export function checkServeOptions(raw: {
  dlq: string;
  port: string | undefined;
  host: string | undefined;
  token: string | undefined;
  processor: string | undefined;
}): ServeOptions {
  const portText = raw.port ?? String(DEFAULT_PORT);
  const port = /^\d{1,5}$/.test(portText.trim()) ? Number(portText.trim()) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`--port takes a port number from 0 to 65535 (0 picks a free one), got '${portText}'`);
  }
  const host = (raw.host ?? DEFAULT_HOST).trim();
  if (host === '')
    throw new UsageError('--host takes an address to listen on, such as 127.0.0.1 (this machine only) or 0.0.0.0');
  const token = raw.token === undefined || raw.token === '' ? undefined : raw.token;
  if (token !== undefined && (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token))) {
    throw new UsageError(
      `--token takes at least ${MIN_TOKEN_LENGTH} printable characters without spaces (it is sent in a header); ` +
        'leave it out to have one generated',
    );
  }
  return { dlq: raw.dlq, port, host, token, processor: raw.processor === '' ? undefined : raw.processor };
}

/** Whether an address (as given to --host) reaches this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare.startsWith('::ffff:127.');
}
