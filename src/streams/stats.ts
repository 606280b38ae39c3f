/** The figures of a run, as the summary and `--stats-file` report them. */
export interface RunStats {
  /** Messages taken from the transport. */
  readonly received: number;
  /** Messages handled and acked. */
  readonly acked: number;
  /** Messages handed back to a transport that redelivers them. */
  readonly nacked: number;
  /** Messages stored as dead letters (then acked at the transport). */
  readonly deadLettered: number;
  /** Messages read but neither settled nor stored when the run ended (a forced shutdown). */
  readonly unsettled: number;
  /** Retries scheduled (a message tried three times counts two). */
  readonly retries: number;
  /** Dead letters by reason. */
  readonly deadLetteredByReason: Readonly<Record<string, number>>;
  readonly seconds: number;
}

/** Live counters of a run. */
export class Stats {
  received = 0;
  acked = 0;
  nacked = 0;
  deadLettered = 0;
  unsettled = 0;
  retries = 0;
  readonly #byReason = new Map<string, number>();
  readonly #started = process.hrtime.bigint();

  /** Messages read and not yet settled. */
  get inFlight(): number {
    return this.received - this.acked - this.nacked - this.deadLettered - this.unsettled;
  }

  countDeadLetter(reason: string): void {
    this.deadLettered++;
    this.#byReason.set(reason, (this.#byReason.get(reason) ?? 0) + 1);
  }

  snapshot(): RunStats {
    return {
      received: this.received,
      acked: this.acked,
      nacked: this.nacked,
      deadLettered: this.deadLettered,
      unsettled: this.unsettled,
      retries: this.retries,
      deadLetteredByReason: Object.fromEntries(this.#byReason),
      seconds: Number(process.hrtime.bigint() - this.#started) / 1e9,
    };
  }
}
