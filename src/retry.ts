import { InvalidOptionError } from './errors.js';
import type { Outcome } from './outcome.js';

/** How long to wait before each retry. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 200. */
  readonly initialMs?: number;
  /** Each retry waits this many times longer than the one before. Default 2. */
  readonly factor?: number;
  /** The longest wait, in ms. Default 30000. */
  readonly maxMs?: number;
  /**
   * Full jitter: wait a random time between 0 and the computed delay, so messages that failed together (a
   * dependency went down) do not all come back at the same moment. Default true.
   */
  readonly jitter?: boolean;
}

/** A backoff policy: options, or a function from the retry number (1 for the first retry) to a delay in ms. */
export type Backoff = BackoffOptions | ((retry: number) => number);

/**
 * The delay in ms before retry number `retry` (1 for the first): `initialMs * factor ** (retry - 1)`, at most
 * `maxMs`, then with `jitter` a random time between 0 and that; a function policy is called, and a negative answer
 * is 0. This is the only place a backoff delay is computed: handler retries (pipeline and test client) and the
 * Redis and RabbitMQ reconnect loops all call it. Never NaN, however high `retry` gets (reconnects have no limit).
 */
export function backoffDelay(backoff: Backoff | undefined, retry: number): number {
  if (typeof backoff === 'function') return Math.max(0, backoff(retry));
  const { initialMs = 200, factor = 2, maxMs = 30_000, jitter = true } = backoff ?? {};
  // 0 * Infinity is NaN: a zero first delay stays zero however far `factor ** (retry - 1)` overflows.
  const ceiling = initialMs === 0 ? 0 : Math.min(maxMs, initialMs * factor ** (retry - 1));
  return jitter ? Math.random() * ceiling : ceiling;
}

/**
 * The run's `retryDelays` option as a policy: a number of ms is the same wait before every retry (0 retries at
 * once, as tests want), a policy is itself, and undefined leaves each handler its own `backoff`.
 */
export function retryDelaysBackoff(retryDelays: number | Backoff | undefined): Backoff | undefined {
  if (typeof retryDelays === 'number') {
    if (!(retryDelays >= 0 && Number.isFinite(retryDelays))) {
      throw new InvalidOptionError(
        `retryDelays must be a number of ms of at least 0, or a backoff policy; got ${retryDelays}`,
      );
    }
    return { initialMs: retryDelays, factor: 1, jitter: false };
  }
  if (
    retryDelays !== undefined &&
    typeof retryDelays !== 'function' &&
    (typeof retryDelays !== 'object' || retryDelays === null)
  ) {
    throw new InvalidOptionError(
      `retryDelays must be a number of ms, a function of the retry number, or backoff options; got ${String(retryDelays)}`,
    );
  }
  return retryDelays;
}

/**
 * The retry rule, written once for the pipeline and the test client: whether a message whose attempt number
 * `attempt` (1 for the first try) ended in `outcome` is tried again, given the `retries` its handler allows
 * (its `retries` option, else the run's default). Only a dead letter marked retryable is: a handler or hook that
 * threw (anything but an error with `retryable: false`, such as a `PermanentError`) or ran past its timeout. Acks,
 * nacks and routing failures never are.
 */
export function shouldRetry(outcome: Outcome, attempt: number, retries: number): boolean {
  return outcome.kind === 'dead-letter' && outcome.retryable && attempt <= retries;
}
