import type { Adapter } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import { describe } from '../errors.js';
import type { Log } from '../log.js';
import type { Admission } from './admission.js';
import type { Settler } from './settle.js';
import type { Stats } from './stats.js';

/** What {@link Shutdown} works with. */
export interface ShutdownOptions {
  readonly adapter: Adapter;
  readonly settler: Settler;
  readonly stats: Stats;
  readonly admission: Admission;
  readonly log: Log;
  /** On stop, how long in-flight messages may take, in ms. */
  readonly drainTimeoutMs: number;
  /** Hands back the retries still waiting. */
  readonly nackRetries: () => void;
  /** Deliveries of the batches still running: what giving up hands back to a transport that can requeue. */
  readonly running: () => Delivery[];
  /** The ids of the messages still running, or waiting to run again. */
  readonly runningIds: () => string[];
  /** The ids of the messages whose dead letters are being written. */
  readonly writingIds: () => string[];
  /** Makes `stats.inFlight` exact for work still running (blocks count their blank lines until answered). */
  readonly settleCounts: () => void;
  /** Resolves when no batch or block is running. */
  readonly idle: () => Promise<void>;
  /** Terminates the workers at once. */
  readonly destroyWorkers: () => void;
}

/**
 * How a run ends: `stop()` drains (bounded by the drain timeout), `giveUp()` stops waiting, `kill()` gives up at
 * once, `fail()` stops after something the run cannot go on from. Messages left over are nacked where the
 * transport can requeue and counted as unsettled otherwise: never dead-lettered, as they did not fail.
 */
export class Shutdown {
  readonly #options: ShutdownOptions;
  #stopping = false;
  #gaveUp = false;
  #killed = false;
  #failed = false;
  #failure: unknown;
  #drainTimer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;

  constructor(options: ShutdownOptions) {
    this.#options = options;
  }

  /** No new input is read. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** The run no longer waits for in-flight messages, and drops results that still come in. */
  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /** Whether the run was killed: it ends at once, without `afterProcessing`. */
  get killed(): boolean {
    return this.#killed;
  }

  /** Whether the run failed, and with what. */
  get failed(): boolean {
    return this.#failed;
  }

  get failure(): unknown {
    return this.#failure;
  }

  /** Stops reading and lets what is in flight finish, up to the drain timeout. */
  stop(): void {
    if (this.#stopping) return;
    const { adapter, log, stats, nackRetries, admission, drainTimeoutMs } = this.#options;
    this.#stopping = true;
    log('info', 'stopping: no new messages, finishing those in flight', { inFlight: stats.inFlight });
    void adapter.stop().catch((error: unknown) => log('warn', 'adapter stop failed', { error: describe(error) }));
    nackRetries();
    this.#armTimer('drain timeout', drainTimeoutMs);
    admission.wake();
  }

  /** Gives up at once and terminates the workers. Returns how many messages were read and not settled. */
  kill(): number {
    const { stats, destroyWorkers, writingIds } = this.#options;
    // After a drain timeout the messages still out are already counted as unsettled.
    if (!this.#gaveUp) {
      this.#options.settleCounts();
      this.#noteUnsettled();
      stats.unsettled += stats.inFlight;
    }
    // A letter being written may or may not be stored when the process exits: named, so it can be looked for. (A
    // drain timeout waits for those writes, so it does not name them.)
    stats.noteUnsettled(writingIds());
    this.#gaveUp = true;
    this.#killed = true;
    destroyWorkers();
    this.#wakeAll();
    return stats.unsettled;
  }

  /** Stops waiting for in-flight messages: those a transport can redeliver are nacked, the rest counted unsettled. */
  giveUp(why: string): void {
    if (this.#gaveUp) return;
    const { adapter, settler, stats, log, running, settleCounts } = this.#options;
    const pending = running();
    settleCounts();
    this.#gaveUp = true;
    log('warn', `${why}: giving up on ${stats.inFlight} in-flight messages`, {
      requeued: adapter.canRequeue ? pending.length : 0,
    });
    if (adapter.canRequeue) settler.nack(pending);
    else this.#noteUnsettled();
    stats.unsettled += stats.inFlight;
    this.#wakeAll();
  }

  /**
   * Something the run cannot go on after: stop reading, give back what can be given back, and report. `ids` are
   * the messages of `deliveries`, named in `unsettledIds` when the transport cannot take them back.
   */
  fail(error: unknown, deliveries: readonly Delivery[], ids: readonly string[] = idsOf(deliveries)): void {
    const { adapter, settler, stats, log, drainTimeoutMs } = this.#options;
    log('error', 'run failed', { error: describe(error) });
    if (!this.#failed) {
      this.#failed = true;
      this.#failure = error;
    }
    if (adapter.canRequeue) settler.nack(deliveries);
    // Having given up, the run counted and named everything in flight already.
    else if (!this.#gaveUp) {
      stats.unsettled += deliveries.length;
      stats.noteUnsettled(ids);
    }
    if (!this.#stopping) {
      this.#stopping = true;
      void adapter.stop().catch(() => {});
      this.#armTimer('failure', Math.min(drainTimeoutMs, 5000));
    }
    this.#options.admission.wake();
    this.progress();
  }

  /** Something settled: a drain waiting for the last message may be over. */
  progress(): void {
    if (this.#drained && this.#options.stats.inFlight === 0) this.#drained();
  }

  /** Waits until every message read is settled, or the run gives up. */
  async drain(): Promise<void> {
    while (this.#options.stats.inFlight > 0 && !this.#gaveUp) {
      await new Promise<void>((resolve) => (this.#drained = resolve));
      this.#drained = undefined;
    }
    // Having given up, never wait for the batches: a handler that never returns would hold the run forever.
    if (!this.#gaveUp) await this.#options.idle().then(undefined, () => {});
    clearTimeout(this.#drainTimer);
  }

  #noteUnsettled(): void {
    const { stats, runningIds, writingIds } = this.#options;
    // Every one: a line that is not named cannot be found again, and the in-flight caps bound how many there are.
    // Messages whose letters are still being written are in flight too: once the run gives up, a write that fails
    // later is not counted again, so it is named now (a letter that does land was then named for nothing; better
    // than a line lost without a name).
    stats.noteUnsettled(runningIds());
    stats.noteUnsettled(writingIds());
  }

  #armTimer(why: string, ms: number): void {
    this.#drainTimer = setTimeout(() => this.giveUp(why), ms);
    this.#drainTimer.unref();
  }

  #wakeAll(): void {
    this.#options.admission.wake();
    this.#drained?.();
  }
}

function idsOf(deliveries: readonly Delivery[]): string[] {
  return deliveries.flatMap((delivery) => (delivery.id === undefined ? [] : [delivery.id]));
}
