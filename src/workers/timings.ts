/**
 * Handler durations, bucketed where the handlers run and merged in the main thread: a worker sends a few numbers
 * per handler per batch, never one per message.
 */

/** Upper bounds of the duration buckets, in seconds (Prometheus `le`). */
export const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] as const;

/** Durations of one handler: non-cumulative counts per bucket (the last one is +Inf), their sum and count. */
export interface HandlerTiming {
  readonly route: number;
  readonly buckets: number[];
  sum: number;
  count: number;
}

/** Collects durations by route. */
export class Timings {
  readonly #byRoute = new Map<number, HandlerTiming>();

  record(route: number, seconds: number): void {
    let timing = this.#byRoute.get(route);
    if (!timing) {
      timing = { route, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.#byRoute.set(route, timing);
    }
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    timing.buckets[bucket]!++;
    timing.sum += seconds;
    timing.count++;
  }

  /** Adds what another thread collected. */
  merge(timings: readonly HandlerTiming[]): void {
    for (const other of timings) {
      const timing = this.#byRoute.get(other.route);
      if (!timing) {
        this.#byRoute.set(other.route, { ...other, buckets: [...other.buckets] });
        continue;
      }
      other.buckets.forEach((n, i) => (timing.buckets[i]! += n));
      timing.sum += other.sum;
      timing.count += other.count;
    }
  }

  list(): HandlerTiming[] {
    return [...this.#byRoute.values()];
  }
}
