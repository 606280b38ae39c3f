import { brokerUrlProblem, redactUrl } from './broker-url.js';
import { InvalidOptionError } from '../errors.js';
import type { BackoffOptions } from '../retry.js';
import { wholeNumberOption } from '../options.js';

/** Where the AMQP adapter connects when no URL is given: a local RabbitMQ with its default user. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** How hard the AMQP adapter tries to reach the broker, at open and after losing it. */
export interface AmqpRetryOptions {
  /** Connection attempts at open before giving up with a `TransportError`. Default 8 (about 18 s in all). */
  readonly connectAttempts?: number;
  /** Attempts after a lost connection before the stream fails with a `TransportError`. Default: no limit. */
  readonly reconnectAttempts?: number;
  /**
   * Delay before the first retry in ms, doubled for each further one up to `maxRetryDelayMs`. Default 250. At open
   * these are the exact waits; after a lost connection each wait is a random time between 0 and that delay (full
   * jitter), so the consumers that lost the same broker do not all come back at the same moment.
   */
  readonly retryDelayMs?: number;
  /** Longest delay between two attempts at open, in ms. Default 5000. */
  readonly maxRetryDelayMs?: number;
  /**
   * Longest delay between two attempts after a lost connection, in ms. Default 1000, or `maxRetryDelayMs` when that
   * is less: consuming resumes within about a second of RabbitMQ being reachable again, however long it was away.
   * An attempt at a broker that is down costs little (a refused TCP connection).
   */
  readonly maxReconnectDelayMs?: number;
  /** How long one attempt may take to open the socket and finish the handshake, in ms. Default 10000. */
  readonly connectTimeoutMs?: number;
}

/** {@link AmqpRetryOptions} checked, with their defaults applied. */
export interface ResolvedAmqpRetry {
  readonly connectAttempts: number;
  readonly reconnectAttempts: number;
  readonly connectTimeoutMs: number;
  /** The waits between attempts at open, for `backoffDelay`: exact. */
  readonly connectBackoff: BackoffOptions;
  /** The waits before each attempt after a lost connection, for `backoffDelay`: capped lower, with full jitter. */
  readonly reconnectBackoff: BackoffOptions;
}

/** Checks the retry options and applies the defaults. */
export function resolveAmqpRetry(options: AmqpRetryOptions): ResolvedAmqpRetry {
  const first = options.retryDelayMs ?? 250;
  const max = options.maxRetryDelayMs ?? 5000;
  const maxReconnect = options.maxReconnectDelayMs ?? Math.min(1000, max);
  if (!(first >= 0) || !(max >= 0) || !(maxReconnect >= 0)) {
    throw new InvalidOptionError(`retry delays must be 0 ms or more, got ${first}, ${max} and ${maxReconnect}`);
  }
  const reconnectAttempts = options.reconnectAttempts ?? Infinity;
  if (reconnectAttempts !== Infinity) wholeNumberOption('reconnectAttempts', reconnectAttempts, 1);
  const connectBackoff: BackoffOptions = { initialMs: first, factor: 2, maxMs: max, jitter: false };
  return {
    connectAttempts: wholeNumberOption('connectAttempts', options.connectAttempts ?? 8, 1),
    reconnectAttempts,
    connectTimeoutMs: wholeNumberOption('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1),
    connectBackoff,
    reconnectBackoff: { ...connectBackoff, maxMs: maxReconnect, jitter: true },
  };
}

/** Why `url` cannot be an AMQP URL, or null when it can. */
export function amqpUrlProblem(url: string): string | null {
  return brokerUrlProblem(url, { kind: 'AMQP', protocols: ['amqp:', 'amqps:'], example: DEFAULT_AMQP_URL });
}

/** `url` with its password replaced by `***`, fit for logs and error messages. */
export const redactAmqpUrl = redactUrl;

/** AMQP reply codes that retrying cannot fix: access refused, not found, precondition failed. */
const PERMANENT_CODES = new Set([403, 404, 406]);

/**
 * Whether an error from amqplib says the setup is wrong (a missing queue, a user without permission, a queue
 * declared with other arguments) rather than that the broker could not be reached: those fail at once at open.
 */
export function isPermanentAmqpError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && PERMANENT_CODES.has(code)) return true;
  // A refused login closes the handshake: amqplib reports it only in the message.
  return error instanceof Error && /ACCESS[-_]REFUSED/.test(error.message);
}
