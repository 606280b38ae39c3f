import { redactUrl } from './broker-url.js';
import { Redis } from 'ioredis';
import { InvalidOptionError, TransportError, describe } from '../errors.js';
import { backoffDelay, type BackoffOptions } from '../retry.js';
import type { CommonAdapterOptions } from './spec.js';

import { DEFAULT_REDIS_URL, redisUrlProblem } from './redis-url.js';
import { wholeNumberOption } from '../options.js';

export { DEFAULT_REDIS_URL, redisUrlProblem };

/** How the Redis adapters report connection trouble: the CLI's logger, or any function of this shape. */
export type RedisLog = CommonAdapterOptions['log'];

/** How hard the Redis adapters try to reach the server, at open and after losing it. */
export interface RedisRetryOptions {
  /** Connection attempts at open before giving up with a `TransportError`. Default 8 (about 18 s in all). */
  readonly connectAttempts?: number;
  /**
   * Delay before the first retry in ms, doubled for each further one up to `maxRetryDelayMs`. Default 250. At open
   * these are the exact waits; after a lost connection each wait is a random time between 0 and that delay (full
   * jitter), so the consumers that lost the same server do not all come back at the same moment.
   */
  readonly retryDelayMs?: number;
  /** Longest delay between two attempts in ms. Default 5000. */
  readonly maxRetryDelayMs?: number;
}

/** What {@link connectRedis} needs besides the URL. */
export interface ConnectRedisOptions extends RedisRetryOptions {
  /** Shown in `CLIENT LIST` and in log lines: which connection of which adapter this is. */
  readonly connectionName: string;
  readonly log: RedisLog;
}

/** Throws an `InvalidOptionError` unless `url` is a Redis URL. */
export function assertRedisUrl(url: string): void {
  const problem = redisUrlProblem(url);
  if (problem) throw new InvalidOptionError(problem);
}

/** `url` with its password replaced by `***`, fit for logs and error messages. */
export const redactRedisUrl = redactUrl;

/**
 * Connects one ioredis client, retrying with exponential backoff and a `warn` log line per failed attempt; after
 * `connectAttempts` failures it rejects with a `TransportError` naming the URL (password hidden). Once connected,
 * a lost connection is retried the same way (with jitter, see {@link RedisRetryOptions.retryDelayMs}), without
 * limit, one `warn` line per attempt and an `info` line once it is back. Commands wait for it however long that
 * takes (ioredis's `maxRetriesPerRequest` is off: with its default of 20 an outage of about 40 s failed every
 * command in flight, and ended the run); those sent and not answered when it was lost are sent again. Whoever
 * gives up sooner (a run stopping) must stop waiting itself: see {@link isRedisReady} and {@link closeRedis}.
 */
export async function connectRedis(url: string, options: ConnectRedisOptions): Promise<Redis> {
  const attempts = wholeNumberOption('connectAttempts', options.connectAttempts ?? 8, 1);
  const connecting = backoffFrom(options.retryDelayMs ?? 250, options.maxRetryDelayMs ?? 5000);
  const reconnecting: BackoffOptions = { ...connecting, jitter: true };
  const safeUrl = redactRedisUrl(url);
  const { log, connectionName } = options;
  let established = false;
  let lastError: unknown;
  let lostAt = 0;
  const client = new Redis(url, {
    lazyConnect: true,
    connectionName,
    maxRetriesPerRequest: null,
    // The first connection is retried by the loop below, so it can give up with our error; later ones by ioredis.
    retryStrategy: (times) => {
      if (!established) return null;
      const delay = Math.round(backoffDelay(reconnecting, times));
      if (times === 1) lostAt = Date.now();
      log('warn', `lost the connection to Redis at ${safeUrl}; reconnecting in ${delay} ms`, {
        connection: connectionName,
        attempt: times,
        error: lastError === undefined ? undefined : describe(lastError),
      });
      return delay;
    },
  });
  // Without a listener ioredis prints every socket error itself; ours are reported by the retry lines instead.
  client.on('error', (error: unknown) => (lastError = error));
  client.on('ready', () => {
    if (lostAt === 0) return;
    log('info', `reconnected to Redis at ${safeUrl} after ${((Date.now() - lostAt) / 1000).toFixed(1)} s`, {
      connection: connectionName,
    });
    lostAt = 0;
  });
  for (let attempt = 1; ; attempt++) {
    lastError = undefined;
    try {
      await client.connect();
      established = true;
      return client;
    } catch (error) {
      const reason = describe(lastError ?? error);
      if (attempt >= attempts) {
        client.disconnect();
        throw new TransportError(
          `cannot connect to Redis at ${safeUrl} (${reason}) after ${attempts} attempt${attempts === 1 ? '' : 's'}; ` +
            'check that Redis is running there and that --redis-url is right',
          { cause: lastError ?? error },
        );
      }
      const delay = Math.round(backoffDelay(connecting, attempt));
      log('warn', `cannot connect to Redis at ${safeUrl} (${reason}); retrying in ${delay} ms`, {
        connection: connectionName,
        attempt,
        of: attempts,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Whether a failed command is worth sending again once the connection is back: it was cut off with its connection
 * (aborted, interrupted, a reply lost mid-way), or the server answered that it cannot serve yet (LOADING after a
 * restart, BUSY, MASTERDOWN, TRYAGAIN) or lost its consumer group (NOGROUP, a restart without its data). Any other
 * error reply (WRONGTYPE, NOPERM...) would fail again however long one waits.
 */
export function isPassingRedisError(error: unknown): boolean {
  const name = (error as Error | undefined)?.name;
  if (
    name === 'AbortError' ||
    name === 'InterruptError' ||
    name === 'MaxRetriesPerRequestError' ||
    name === 'ParserError'
  ) {
    return true;
  }
  return name === 'ReplyError' && /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|NOGROUP)\b/.test((error as Error).message);
}

/** Whether the client is connected and answering: otherwise its commands wait for a reconnection. */
export function isRedisReady(client: Redis | undefined): boolean {
  return client?.status === 'ready';
}

/**
 * Closes a client politely (QUIT, so replies in flight arrive first) and resolves once it has ended; drops the
 * connection instead if the server does not answer within `timeoutMs`, and at once when it is not connected (a QUIT
 * would wait for a reconnection). Commands still waiting for one then never settle: callers stop waiting for them.
 */
export async function closeRedis(client: Redis | undefined, timeoutMs = 2000): Promise<void> {
  if (!client || client.status === 'end') return;
  if (!isRedisReady(client)) {
    client.disconnect();
    return;
  }
  let hasEnded = false;
  const ended = new Promise<void>((resolve) => client.once('end', resolve)).then(() => (hasEnded = true));
  client.quit().catch(() => client.disconnect());
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  if (!hasEnded) client.disconnect();
}

/** Checks `retryDelayMs` and `maxRetryDelayMs`; the backoff at open, exact (no jitter). */
function backoffFrom(firstMs: number, maxMs: number): BackoffOptions {
  if (!(firstMs >= 0) || !(maxMs >= 0)) {
    throw new InvalidOptionError(`retry delays must be 0 ms or more, got ${firstMs} and ${maxMs}`);
  }
  return { initialMs: firstMs, factor: 2, maxMs, jitter: false };
}
