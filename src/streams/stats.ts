import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { threadTimes, threadTimesSince, type ThreadTimes } from '../thread-time.js';

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
  /**
   * The ids of those messages, to find them in the input again: every one that a drain timeout or a forced stop
   * left running (no more than the in-flight caps let run at once).
   */
  readonly unsettledIds: readonly string[];
  /**
   * Messages the transport took back by itself before their settle reached it: a RabbitMQ channel closed with
   * them unacked (dropped before their handler when it had not started, else their ack was lost). The broker
   * delivers them again, and they are counted again in `received`: so `received` = `acked` + `nacked` +
   * `deadLettered` + `unsettled` + `requeuedByBroker` once nothing is in flight.
   */
  readonly requeuedByBroker: number;
  /** Retries scheduled (a message tried three times counts two). */
  readonly retries: number;
  /**
   * Messages the adapter took from its transport and discarded unhandled (Redis Pub/Sub past `--max-buffered`, or
   * held when the run stopped): never in `received`. By reason in `droppedByReason`.
   */
  readonly dropped: number;
  readonly droppedByReason: Readonly<Record<string, number>>;
  /**
   * Errors from work handlers started and did not await (a dropped promise that rejected, a throw from a timer),
   * caught and logged instead of ending the run. Not messages: one message can cause several, or none be known.
   */
  readonly unhandledErrors: number;
  /** Dead letters by reason. */
  readonly deadLetteredByReason: Readonly<Record<string, number>>;
  readonly seconds: number;
  /**
   * From the first message read to the last one settled, the run's work without its start-up and shutdown: how
   * long it took, and how long the main thread's event loop was busy meanwhile (ms). `mainThreadBusyMs / received`
   * is what the framework costs the main thread per message, which bounds how many cores one run can feed. Where
   * the system counts them (Linux), also its CPU time and the time it was runnable but waited for a core (with
   * more busy threads than cores, part of the busy time). Absent when nothing was read, or the run gave up before
   * its messages settled.
   */
  readonly inRun?: {
    readonly seconds: number;
    readonly mainThreadBusyMs: number;
    readonly mainThreadCpuMs?: number;
    readonly mainThreadWaitMs?: number;
  };
}

/** Live counters of a run. */
export class Stats {
  received = 0;
  acked = 0;
  nacked = 0;
  deadLettered = 0;
  unsettled = 0;
  requeuedByBroker = 0;
  retries = 0;
  /** See {@link RunStats.unsettledIds}. */
  readonly unsettledIds: string[] = [];
  readonly #named = new Set<string>();
  readonly #byReason = new Map<string, number>();
  #unhandledErrors: () => number = () => 0;
  #droppedByReason: () => Readonly<Record<string, number>> | undefined = () => undefined;
  readonly #started = process.hrtime.bigint();
  /** The event loop's figures when the first message was read, once it was. */
  #firstRead: { readonly loop: EventLoopUtilization; readonly times: ThreadTimes | undefined } | undefined;
  #inRun: RunStats['inRun'];

  /** See {@link RunStats.unhandledErrors}; counted by the threads that catch them. */
  get unhandledErrors(): number {
    return this.#unhandledErrors();
  }

  /** Where {@link unhandledErrors} is read from: the executor, whose threads count them. */
  countUnhandledErrorsOf(source: () => number): void {
    this.#unhandledErrors = source;
  }

  /** Where {@link RunStats.droppedByReason} is read from: the adapter, which drops them. */
  countDroppedOf(source: () => Readonly<Record<string, number>> | undefined): void {
    this.#droppedByReason = source;
  }

  /** Messages read and not yet settled. */
  get inFlight(): number {
    return this.received - this.acked - this.nacked - this.deadLettered - this.unsettled - this.requeuedByBroker;
  }

  countAcked(count: number): void {
    this.#reclaim(count);
    this.acked += count;
  }

  countNacked(count: number): void {
    this.#reclaim(count);
    this.nacked += count;
  }

  /** Records ids of messages left unsettled. */
  noteUnsettled(ids: Iterable<string>): void {
    // Several ways of ending may name the same message (a letter still being written at a give-up, then a kill).
    for (const id of ids) {
      if (this.#named.has(id)) continue;
      this.#named.add(id);
      this.unsettledIds.push(id);
    }
  }

  countRequeuedByBroker(count: number): void {
    this.#reclaim(count);
    this.requeuedByBroker += count;
  }

  countDeadLetter(reason: string): void {
    this.#reclaim(1);
    this.deadLettered++;
    this.#byReason.set(reason, (this.#byReason.get(reason) ?? 0) + 1);
  }

  /**
   * A run that gives up counts everything in flight as unsettled, yet a dead-letter write already under way can
   * still commit and ack its messages. Settling more than is in flight means exactly that: those messages move
   * from `unsettled` to where they ended, so the figures still add up to `received`.
   */
  #reclaim(count: number): void {
    const late = Math.min(count - this.inFlight, this.unsettled);
    if (late > 0) this.unsettled -= late;
  }

  /** Marks the first message read: the start of {@link RunStats.inRun}. Cheap to call for every chunk. */
  noteRead(): void {
    this.#firstRead ??= { loop: performance.eventLoopUtilization(), times: threadTimes() };
  }

  /** Marks every message read as settled: the end of {@link RunStats.inRun}. */
  noteSettled(): void {
    if (!this.#firstRead || this.#inRun) return;
    const { idle, active } = performance.eventLoopUtilization(this.#firstRead.loop);
    const times = threadTimesSince(this.#firstRead.times);
    this.#inRun = {
      seconds: (idle + active) / 1000,
      mainThreadBusyMs: active,
      mainThreadCpuMs: times?.cpuMs,
      mainThreadWaitMs: times?.waitMs,
    };
  }

  snapshot(): RunStats {
    const droppedByReason = { ...this.#droppedByReason() };
    return {
      received: this.received,
      acked: this.acked,
      nacked: this.nacked,
      deadLettered: this.deadLettered,
      unsettled: this.unsettled,
      unsettledIds: [...this.unsettledIds],
      requeuedByBroker: this.requeuedByBroker,
      retries: this.retries,
      dropped: Object.values(droppedByReason).reduce((sum, n) => sum + n, 0),
      droppedByReason,
      unhandledErrors: this.unhandledErrors,
      deadLetteredByReason: Object.fromEntries(this.#byReason),
      seconds: Number(process.hrtime.bigint() - this.#started) / 1e9,
      ...(this.#inRun && { inRun: this.#inRun }),
    };
  }
}
