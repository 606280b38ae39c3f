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

/** The delay before retry number `retry` (1-based). */
export function backoffDelay(backoff: Backoff | undefined, retry: number): number {
  if (typeof backoff === 'function') return Math.max(0, backoff(retry));
  const { initialMs = 200, factor = 2, maxMs = 30_000, jitter = true } = backoff ?? {};
  const ceiling = Math.min(maxMs, initialMs * factor ** (retry - 1));
  return jitter ? Math.random() * ceiling : ceiling;
}
