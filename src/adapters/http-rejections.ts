import type { CommonAdapterOptions } from './spec.js';

type Log = NonNullable<CommonAdapterOptions['log']>;

/** The most one warn line per status is written, so a flood of bad requests cannot flood the log. */
const LOG_EVERY_MS = 10_000;

/**
 * Counts the requests the HTTP adapter refuses itself, by status, and logs them rate-limited: at most one warn line
 * per status every 10 s, saying how many since that status's last line and why the latest was refused. Only the
 * reason is logged, never a header or the body, so no secret or payload reaches the log.
 */
export class Rejections {
  readonly #log: Log;
  readonly #now: () => number;
  readonly #byStatus: Record<string, number> = {};
  /** Per status: when its last line was written, and how many refusals since then. */
  readonly #lines = new Map<number, { at: number; since: number }>();

  constructor(log: Log, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /** Every refusal so far, by status; the adapter's `rejectedByStatus`. */
  get byStatus(): Readonly<Record<string, number>> {
    return this.#byStatus;
  }

  /** One request answered `status` because of `reason` (a few words: "bad signature"). */
  note(status: number, reason: string): void {
    this.#byStatus[status] = (this.#byStatus[status] ?? 0) + 1;
    const now = this.#now();
    const line = this.#lines.get(status) ?? { at: -Infinity, since: 0 };
    line.since++;
    this.#lines.set(status, line);
    if (now - line.at < LOG_EVERY_MS) return;
    this.#log(
      'warn',
      `answered ${status} to ${line.since} request${line.since === 1 ? '' : 's'} since the last such line ` +
        `(latest: ${reason}); at most one line per status every ${LOG_EVERY_MS / 1000} s`,
      { status, count: line.since, reason },
    );
    line.at = now;
    line.since = 0;
  }
}
