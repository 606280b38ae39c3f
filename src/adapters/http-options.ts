import { InvalidOptionError } from '../errors.js';
import { resolveMaxMessageBytes } from './lines.js';
import type { CommonAdapterOptions } from './spec.js';
import { wholeNumberOption } from '../options.js';

/** Options of an {@link HttpAdapter}. All have defaults. */
export interface HttpAdapterOptions {
  /** The port to listen on; 0 picks a free one (see {@link HttpAdapter.port}). Default 8080. */
  readonly port?: number;
  /** The address to listen on. Default `127.0.0.1`: only this machine; give `0.0.0.0` to take outside requests. */
  readonly host?: string;
  /** The path that accepts POSTs. Default `/`. */
  readonly path?: string;
  /**
   * When set, every POST must carry `X-Missive-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with it.
   * A POST without a well-formed signature header is refused 401 before its body is read.
   */
  readonly secret?: string;
  /** Larger bodies are refused with 413. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * The most bytes of bodies held at once, those still arriving and those in the pipeline waiting for their
   * outcome; past it a request is answered 503 + `Retry-After` at once, its body unread. A declared
   * `Content-Length` is counted in full when the headers arrive. Default {@link DEFAULT_MAX_BODY_BYTES_IN_FLIGHT}
   * (64 MiB), or 4 × `maxMessageBytes` when that is larger; it must be at least `maxMessageBytes`.
   */
  readonly maxBodyBytesInFlight?: number;
  /**
   * Milliseconds from the end of a request's headers to the end of its body; a body that has not arrived by then
   * is answered 408, its bytes are released and its connection closes. Default 30000 (a 1 MiB body then needs
   * about 35 KB/s).
   */
  readonly bodyTimeoutMs?: number;
  /**
   * Milliseconds a connection may take to send a request's headers; this also closes a connection that never
   * sends a request line. Answered 408 and closed by Node's HTTP server. Default 10000.
   */
  readonly headersTimeoutMs?: number;
  /**
   * Milliseconds a kept-alive connection may sit idle between requests before the server closes it (Node waits
   * up to a second more). Default 5000.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Open connections at once, so file descriptors stay for the dead-letter file, the workers and brokers. A new
   * connection past it closes the connection idle longest (one that sent no request yet, or a kept-alive one
   * between requests), so silent sockets cannot lock senders out; when every connection has a request in
   * progress, the new one is closed instead. Default 512 (half the usual limit of 1024 open files).
   */
  readonly maxConnections?: number;
  /** The `Retry-After` (seconds) sent with every 503. Default 5. */
  readonly retryAfterSeconds?: number;
  /** Where listening and refusals are reported. Default: nowhere. */
  readonly log?: CommonAdapterOptions['log'];
}

/** The default byte budget of bodies held at once: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/** Every limit of an HTTP adapter, checked and with its default filled in. */
export interface HttpLimits {
  readonly maxMessageBytes: number;
  readonly maxBodyBytesInFlight: number;
  readonly bodyTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly retryAfterSeconds: number;
}

/** Checks the limits of `options` and fills in defaults; the one place they are validated. */
export function resolveHttpLimits(options: HttpAdapterOptions): HttpLimits {
  const maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
  const maxBodyBytesInFlight = wholeNumberOption(
    'maxBodyBytesInFlight',
    options.maxBodyBytesInFlight ?? Math.max(DEFAULT_MAX_BODY_BYTES_IN_FLIGHT, 4 * maxMessageBytes),
    1,
  );
  if (maxBodyBytesInFlight < maxMessageBytes) {
    throw new InvalidOptionError(
      `maxBodyBytesInFlight (--max-body-bytes-in-flight, ${maxBodyBytesInFlight}) must be at least maxMessageBytes ` +
        `(${maxMessageBytes}), or a ` +
        'message of the largest size allowed could never be taken; raise it or lower --max-message-bytes',
    );
  }
  return {
    maxMessageBytes,
    maxBodyBytesInFlight,
    bodyTimeoutMs: wholeNumberOption('bodyTimeoutMs', options.bodyTimeoutMs ?? 30_000, 1),
    headersTimeoutMs: wholeNumberOption('headersTimeoutMs', options.headersTimeoutMs ?? 10_000, 1),
    idleTimeoutMs: wholeNumberOption('idleTimeoutMs', options.idleTimeoutMs ?? 5_000, 1),
    maxConnections: wholeNumberOption('maxConnections', options.maxConnections ?? 512, 1),
    retryAfterSeconds: wholeNumberOption('retryAfterSeconds', options.retryAfterSeconds ?? 5, 0),
  };
}
