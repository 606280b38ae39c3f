import type { Adapter } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import type { DeadLetterInput, Dlq } from '../dlq/dlq.js';
import { DlqError, describe } from '../errors.js';
import type { Log } from '../log.js';
import type { OutcomeEvents } from './events.js';
import type { Stats } from './stats.js';

/** How much of a body `--log-bodies` puts in a log line. */
const LOGGED_BODY_BYTES = 1024;

/** A delivery to store as a dead letter, with its row. */
export interface DeadLetterEntry {
  readonly delivery: Delivery;
  readonly letter: DeadLetterInput;
}

/**
 * The last stage: tells the transport what became of each delivery. Dead letters are written and committed
 * first, and only then acked, so a crash in between redelivers them instead of losing them.
 */
export class Settler {
  readonly #adapter: Adapter;
  readonly #dlq: Dlq;
  readonly #stats: Stats;
  readonly #log: Log;
  readonly #onDlqFailure: (error: DlqError, entries: readonly DeadLetterEntry[]) => void;
  readonly #onProgress: () => void;
  readonly #logBodies: boolean;
  readonly #events: OutcomeEvents | undefined;
  #pending = 0;
  /** Dead letters being written: their messages are neither stored nor acked yet. */
  readonly #writing = new Set<readonly DeadLetterEntry[]>();
  #idle: (() => void)[] = [];

  constructor(options: {
    adapter: Adapter;
    dlq: Dlq;
    stats: Stats;
    log: Log;
    /** Put (the start of) bodies in dead-letter log lines; never for confidential letters. */
    logBodies: boolean;
    /** A dead-letter write failed: those deliveries are not acked, and the run cannot go on safely. */
    onDlqFailure: (error: DlqError, entries: readonly DeadLetterEntry[]) => void;
    /** Called whenever messages leave the in-flight count, so a reader held back by the cap can go on. */
    onProgress: () => void;
    /** Told of every outcome, for an embedder's telemetry. */
    events?: OutcomeEvents;
  }) {
    this.#adapter = options.adapter;
    this.#dlq = options.dlq;
    this.#stats = options.stats;
    this.#log = options.log;
    this.#onDlqFailure = options.onDlqFailure;
    this.#onProgress = options.onProgress;
    this.#logBodies = options.logBodies;
    this.#events = options.events;
  }

  /**
   * Acks handled deliveries. Where acks can be lost with the connection (`ackConfirmed`), they count as acked once
   * the transport confirms them, and those it took back instead as `requeuedByBroker`.
   */
  ack(deliveries: readonly Delivery[]): void {
    if (deliveries.length === 0) return;
    const adapter = this.#adapter;
    if (!adapter.ackConfirmed) {
      this.#stats.countAcked(deliveries.length);
      this.#events?.acked(deliveries.length);
      this.#track(() => adapter.ack(deliveries, 'handled'), 'ack');
      this.#onProgress();
      return;
    }
    this.#countConfirmed(deliveries.length, adapter.ackConfirmed(deliveries, 'handled'));
  }

  /**
   * Counts acks once the transport confirms them. Apart from `ack` so that nothing waiting for the confirmation holds
   * the deliveries: a closure made in `ack` would keep its `deliveries` alive (closures of one call share their
   * variables), and in-flight objects that live on are what makes V8's young-generation collections costly.
   */
  #countConfirmed(total: number, confirmation: Promise<number>): void {
    this.#pending++;
    const count = (confirmed: number) => {
      this.#stats.countAcked(confirmed);
      if (confirmed > 0) this.#events?.acked(confirmed);
      this.#stats.countRequeuedByBroker(total - confirmed);
      this.#onProgress();
    };
    confirmation
      .then(count, (error: unknown) => {
        this.#failed('ack', error);
        count(0);
      })
      .finally(() => this.#done());
  }

  /** Deliveries the transport took back by itself (see `Adapter.revoked`): dropped, not settled. */
  requeuedByBroker(deliveries: readonly Delivery[]): void {
    if (deliveries.length === 0) return;
    this.#stats.countRequeuedByBroker(deliveries.length);
    this.#onProgress();
  }

  /**
   * Counts the plain acks of a block of lines. A line adapter has nothing to ack (its input cannot redeliver), so
   * the count is all there is to do.
   */
  countBlockAcks(count: number): void {
    if (count === 0) return;
    this.#stats.countAcked(count);
    this.#events?.acked(count);
    this.#onProgress();
  }

  /** Hands deliveries back for redelivery. Only for adapters that can requeue. */
  nack(deliveries: readonly Delivery[]): void {
    if (deliveries.length === 0) return;
    this.#stats.countNacked(deliveries.length);
    this.#events?.nacked(deliveries.length);
    this.#track(() => this.#adapter.nack(deliveries), 'nack');
    this.#onProgress();
  }

  /** Stores dead letters, then acks their deliveries. */
  deadLetter(entries: readonly DeadLetterEntry[]): void {
    if (entries.length === 0) return;
    this.#pending++;
    this.#writing.add(entries);
    this.#dlq
      .put(entries.map((entry) => entry.letter))
      .then(
        () => {
          for (const { letter } of entries) {
            this.#stats.countDeadLetter(letter.reason);
            this.#events?.deadLettered(letter);
            this.#log('warn', 'dead letter', this.#logFields(letter));
          }
          this.#track(
            () =>
              this.#adapter.ack(
                entries.map((entry) => entry.delivery),
                'dead-lettered',
              ),
            'ack',
          );
          this.#onProgress();
        },
        (error: unknown) => {
          const failure =
            error instanceof DlqError
              ? error
              : new DlqError(`could not store dead letters: ${describe(error)}`, { cause: error });
          this.#onDlqFailure(failure, entries);
        },
      )
      .finally(() => {
        this.#writing.delete(entries);
        this.#done();
      });
  }

  // Error text often quotes the body (a JSON parse error does), so a confidential letter logs neither.
  #logFields(letter: DeadLetterInput): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      id: letter.id,
      reason: letter.reason,
      handler: letter.handler ?? undefined,
    };
    if (letter.confidential) return { ...fields, confidential: true };
    if (letter.error) fields['error'] = letter.error.split('\n', 1)[0];
    if (this.#logBodies) fields['body'] = letter.body.subarray(0, LOGGED_BODY_BYTES).toString('utf8');
    return fields;
  }

  /** Ids of the messages whose dead letters are being written. */
  writingIds(): string[] {
    return [...this.#writing].flatMap((entries) => entries.map((entry) => entry.letter.id));
  }

  /** Resolves once every ack, nack and dead-letter write issued so far has completed. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #track(settle: () => Promise<void> | void, what: string): void {
    let result: Promise<void> | void;
    try {
      result = settle();
    } catch (error) {
      this.#failed(what, error);
      return;
    }
    if (!result) return;
    this.#pending++;
    result.then(undefined, (error: unknown) => this.#failed(what, error)).finally(() => this.#done());
  }

  // The transport did not take the settle: the message stays with it and comes back, which at-least-once allows.
  #failed(what: string, error: unknown): void {
    this.#log('error', `${this.#adapter.name}: ${what} failed; the transport will deliver those messages again`, {
      error: describe(error),
    });
  }

  #done(): void {
    if (--this.#pending > 0) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
