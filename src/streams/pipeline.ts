import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { Adapter } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import type { Dlq, Fingerprint } from '../dlq/dlq.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import { letterFor } from '../dlq/letter-for.js';
import { InvalidOptionError, describe } from '../errors.js';
import { silentLog, type Log } from '../log.js';
import { forgetDecoded, type Message } from '../message.js';
import { Reasons, deadLetter, type DeadLetterOutcome } from '../outcome.js';
import { isConfidential, type Processor } from '../processor.js';
import type { Executor } from '../workers/executor.js';
import { InlineExecutor } from '../workers/inline.js';
import { PoolExecutor } from '../workers/pool.js';
import { ROUTE_FAILED, type BatchResult, type RunItem } from '../workers/runtime.js';
import { Timings } from '../workers/timings.js';
import { backoffDelay } from '../retry.js';
import { Dispatcher, type Batch } from './dispatch.js';
import { UNROUTED, chooseRoute } from '../routing.js';
import { Settler, type DeadLetterEntry } from './settle.js';
import { Stats, type RunStats } from './stats.js';

/** How a run is set up. Every option but the first three has a default that suits most runs. */
export interface PipelineOptions<M extends Message<unknown>> {
  readonly adapter: Adapter;
  /** The processor, as loaded in this thread: its matchers route every message. */
  readonly processor: Processor<M>;
  /** Where unprocessable messages are stored before they are acked. */
  readonly dlq: Dlq;
  /** The processor module's URL, which every worker imports. Required when `threads` > 0. */
  readonly moduleUrl?: string;
  /** Worker threads running handlers. Default: the available parallelism; 0 runs handlers in this thread. */
  readonly threads?: number;
  /** Messages per worker task. Default 1000. */
  readonly batchSize?: number;
  /** How long a partial batch waits for more messages, in ms. Default 2. */
  readonly lingerMs?: number;
  /** Most messages read and not yet settled; reading pauses at the cap. Default 2 × batchSize × threads. */
  readonly maxInFlight?: number;
  /** On stop, how long in-flight messages may take before they are given back, in ms. Default 30000. */
  readonly drainTimeoutMs?: number;
  /** Retries for handlers that set none (`handleFor(..., { retries })`). Default 0. */
  readonly retries?: number;
  /** Timeout in ms for handlers that set none. Default 0: none. */
  readonly timeoutMs?: number;
  /** Put message bodies in dead-letter log lines (never for confidential ones). Default false. */
  readonly logBodies?: boolean;
  /** Time every handler for the duration histogram (`pipeline.timings`). Default false: it costs a little. */
  readonly measure?: boolean;
  readonly log?: Log;
}

/** A running pipeline. */
export interface Pipeline {
  /** Live figures. */
  readonly stats: Stats;
  /** Handler durations from every thread, when the run measures them. */
  readonly timings: Timings;
  /** How busy the worker threads have been, 0 to 1 (0 when handlers run inline). */
  utilization(): number;
  /** Resolves when the run ends: end of input, `stop()`, or a failure (then it rejects). */
  readonly done: Promise<RunStats>;
  /** Stops reading, finishes what is in flight (bounded by the drain timeout), and resolves with the figures. */
  stop(): Promise<RunStats>;
  /**
   * Gives up at once: nothing more is settled and the workers are terminated. Returns how many messages were read
   * and not settled; the caller is expected to exit.
   */
  kill(): number;
}

/** Opens the adapter and starts moving messages: adapter → match → dispatch → settle. */
export async function startPipeline<M extends Message<unknown>>(options: PipelineOptions<M>): Promise<Pipeline> {
  const pipeline = new RunningPipeline(options);
  await pipeline.start();
  return pipeline;
}

class RunningPipeline<M extends Message<unknown>> implements Pipeline {
  readonly stats = new Stats();
  readonly timings = new Timings();
  done!: Promise<RunStats>;
  readonly #adapter: Adapter;
  readonly #processor: Processor<M>;
  readonly #log: Log;
  readonly #fingerprint: Fingerprint;
  readonly #maxInFlight: number;
  readonly #drainTimeoutMs: number;
  readonly #executor: Executor<M>;
  /** The worker pool, when handlers run in workers (`threads` > 0). */
  readonly #pool: PoolExecutor<M> | undefined;
  readonly #dispatcher: Dispatcher<M>;
  readonly #settler: Settler;
  readonly #idPrefix = randomBytes(4).toString('hex');
  #nextId = 0;
  #capacity: (() => void) | undefined;
  #stopping = false;
  #gaveUp = false;
  #failure: unknown;
  #drainTimer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;
  readonly #defaultRetries: number;
  /** Messages waiting to be tried again: still in flight, so they count against the cap. */
  readonly #retrying = new Map<NodeJS.Timeout, { delivery: Delivery; item: RunItem<M> }>();

  constructor(options: PipelineOptions<M>) {
    const threads = options.threads ?? availableParallelism();
    const batchSize = options.batchSize ?? 1000;
    assertCount('threads', threads, 0);
    assertCount('batchSize', batchSize, 1);
    this.#adapter = options.adapter;
    this.#processor = options.processor;
    this.#log = options.log ?? silentLog;
    this.#fingerprint = fingerprintOf(options.processor.name);
    this.#maxInFlight = options.maxInFlight ?? 2 * batchSize * Math.max(1, threads);
    assertCount('maxInFlight', this.#maxInFlight, 1);
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.#defaultRetries = options.retries ?? 0;
    const timeoutMs = options.timeoutMs ?? 0;
    assertCount('retries', this.#defaultRetries, 0);
    assertCount('timeoutMs', timeoutMs, 0);
    const lateWarning = (warning: { id: string; text: string }) => this.#log('warn', warning.text, { id: warning.id });
    if (threads > 0) {
      if (!options.moduleUrl) {
        throw new InvalidOptionError('threads > 0 needs moduleUrl: the processor module workers import (or set threads: 0)');
      }
      this.#executor = this.#pool = new PoolExecutor<M>({
        moduleUrl: options.moduleUrl,
        routeCount: options.processor.routes.length,
        threads,
        defaultTimeoutMs: timeoutMs,
        measure: options.measure ?? false,
        routeTimeouts: options.processor.routes.map((route) => route.options.timeout),
        onWorkerExit: (error) => this.#log('error', 'worker exited; its batch is recovered', { error: describe(error) }),
      });
    } else {
      this.#executor = new InlineExecutor(options.processor, lateWarning, timeoutMs, options.measure ?? false);
    }
    this.#dispatcher = new Dispatcher({
      executor: this.#executor,
      batchSize,
      lingerMs: options.lingerMs ?? 2,
      onResult: (batch, result) => this.#settleBatch(batch, result),
      onError: (batch, error) => {
        // After giving up, a batch cut short by terminating the pool is already counted as unsettled.
        if (!this.#gaveUp) this.#fail(error, batch.deliveries);
      },
    });
    this.#settler = new Settler({
      adapter: this.#adapter,
      dlq: options.dlq,
      stats: this.stats,
      log: this.#log,
      logBodies: options.logBodies ?? false,
      onDlqFailure: (error, entries) => this.#fail(error, entries.map((entry) => entry.delivery)),
      onProgress: () => this.#progress(),
    });
  }

  async start(): Promise<void> {
    if (this.#executor instanceof InlineExecutor) await this.#executor.start();
    let readable: Readable;
    try {
      readable = await this.#adapter.open({ maxInFlight: this.#maxInFlight });
    } catch (error) {
      // Nothing was read, but the worker threads exist: release them, or they keep an embedding process alive.
      await this.#executor.close().catch(() => {});
      throw error;
    }
    this.done = this.#run(readable);
    // The caller may only look at `done` later; a failure must not count as unhandled meanwhile.
    this.done.catch(() => {});
  }

  utilization(): number {
    return this.#pool?.utilization ?? 0;
  }

  stop(): Promise<RunStats> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#log('info', 'stopping: no new messages, finishing those in flight', { inFlight: this.stats.inFlight });
      void this.#adapter.stop().catch((error: unknown) => this.#log('warn', 'adapter stop failed', { error: describe(error) }));
      this.#nackRetries();
      this.#drainTimer = setTimeout(() => this.#giveUp('drain timeout'), this.#drainTimeoutMs);
      this.#drainTimer.unref();
      this.#capacity?.();
    }
    return this.done;
  }

  kill(): number {
    // After a drain timeout the messages still out are already counted as unsettled.
    if (!this.#gaveUp) this.stats.unsettled += this.stats.inFlight;
    this.#gaveUp = true;
    void this.#pool?.destroy();
    this.#capacity?.();
    this.#drained?.();
    return this.stats.unsettled;
  }

  async #run(readable: Readable): Promise<RunStats> {
    try {
      reading: for await (const chunk of readable as AsyncIterable<Delivery[]>) {
        // A chunk can hold thousands of short lines: take only as many as the cap has room for, then wait.
        for (let start = 0; start < chunk.length; ) {
          const room = this.#maxInFlight - this.stats.inFlight;
          if (room <= 0) {
            // Nothing more is read until something settles: a partial batch must not sit out its linger.
            this.#dispatcher.flush();
            await new Promise<void>((resolve) => (this.#capacity = resolve));
            if (this.#stopping || this.#gaveUp) break reading;
            continue;
          }
          const end = Math.min(chunk.length, start + room);
          this.#accept(start === 0 && end === chunk.length ? chunk : chunk.slice(start, end));
          start = end;
        }
        if (this.#stopping || this.#gaveUp || this.#failure !== undefined) break;
      }
    } catch (error) {
      this.#fail(error, []);
    }
    this.#dispatcher.flush();
    await this.#drain();
    clearTimeout(this.#drainTimer);
    if (this.#gaveUp) {
      await this.#pool?.destroy();
    } else {
      await this.#executor.close().catch((error: unknown) => this.#fail(error, []));
    }
    await this.#settler.idle();
    await this.#adapter.close().catch((error: unknown) => this.#log('warn', 'adapter close failed', { error: describe(error) }));
    const stats = this.stats.snapshot();
    if (this.#failure !== undefined) throw this.#failure;
    return stats;
  }

  /** Routes one chunk of deliveries: to the dispatcher, or straight to the dead-letter store. */
  #accept(deliveries: readonly Delivery[]): void {
    const { MessageClass, routes } = this.#processor;
    const offThread = this.#pool !== undefined;
    const routeHere = !(offThread && this.#processor.matchInWorkers);
    const dead: DeadLetterEntry[] = [];
    this.stats.received += deliveries.length;
    for (const delivery of deliveries) {
      const id = delivery.id ?? `${this.#idPrefix}-${this.#nextId++}`;
      if (delivery.rejected) {
        const outcome = deadLetter(delivery.rejected.reason, delivery.rejected.error ?? null);
        dead.push(this.#entry(delivery, id, outcome, null));
        continue;
      }
      let message: M;
      try {
        message = new MessageClass(delivery.body, id, delivery.meta);
      } catch (error) {
        dead.push(this.#entry(delivery, id, deadLetter(Reasons.decodeFailed, describe(error)), null));
        continue;
      }
      const route = routeHere ? chooseRoute(routes, message) : UNROUTED;
      if (typeof route === 'number') {
        if (offThread) forgetDecoded(message);
        this.#dispatcher.push(delivery, { route, message, attempt: delivery.meta?.deliveryCount ?? 1 });
      } else {
        dead.push(this.#entry(delivery, id, route, null));
      }
    }
    this.#settler.deadLetter(dead);
  }

  #settleBatch(batch: Batch<M>, result: BatchResult): void {
    if (this.#gaveUp) return;
    for (const warning of result.warnings) this.#log('warn', warning.text, { id: warning.id });
    if (result.timings) this.timings.merge(result.timings);
    if (result.replies) {
      this.#replyThenSettle(batch, result);
      return;
    }
    this.#settleOutcomes(batch, result);
  }

  /** Sends the handlers' answers first; a message whose answer cannot be sent becomes a dead letter. */
  #replyThenSettle(batch: Batch<M>, result: BatchResult): void {
    const outcomes = [...result.outcomes];
    const sends = result.replies!.map(async ({ index, body }) => {
      try {
        if (!this.#adapter.reply) throw new Error(`the ${this.#adapter.name} adapter cannot send replies`);
        await this.#adapter.reply(batch.deliveries[index]!, body);
      } catch (error) {
        outcomes[index] = deadLetter(Reasons.replyFailed, describe(error));
      }
    });
    void Promise.all(sends).then(() => this.#settleOutcomes(batch, { ...result, outcomes }));
  }

  #settleOutcomes(batch: Batch<M>, result: BatchResult): void {
    if (this.#gaveUp) return;
    const acks: Delivery[] = [];
    const nacks: Delivery[] = [];
    const dead: DeadLetterEntry[] = [];
    for (let i = 0; i < result.outcomes.length; i++) {
      const outcome = result.outcomes[i]!;
      const delivery = batch.deliveries[i]!;
      if (outcome.kind === 'ack') {
        acks.push(delivery);
        continue;
      }
      const item = batch.items[i]!;
      // Routed in the worker: the route it took; none when routing failed (the outcome is that dead letter).
      const taken = item.route === UNROUTED ? (result.routes?.[i] ?? ROUTE_FAILED) : item.route;
      const route = taken >= 0 ? taken : null;
      const { message } = item;
      if (outcome.kind === 'nack' && this.#adapter.canRequeue) nacks.push(delivery);
      else if (outcome.kind === 'dead-letter' && route !== null && this.#shouldRetry(outcome, route, item.attempt)) {
        this.#retry(delivery, { ...item, route });
      } else {
        const failed = outcome.kind === 'nack' ? deadLetter(Reasons.nacked, null) : outcome;
        dead.push(this.#entry(delivery, message.id, failed, route, message.meta, item.attempt));
      }
    }
    this.#settler.ack(acks);
    this.#settler.nack(nacks);
    this.#settler.deadLetter(dead);
  }

  #shouldRetry(outcome: DeadLetterOutcome, route: number, attempt: number): boolean {
    if (!outcome.retryable) return false;
    const retries = this.#processor.routes[route]!.options.retries ?? this.#defaultRetries;
    return attempt <= retries;
  }

  /** Tries a failed message again after its backoff, without holding back the messages behind it. */
  #retry(delivery: Delivery, item: RunItem<M>): void {
    if (this.#stopping) {
      // No new attempts once stopping: the transport gets it back, as with any unfinished message.
      this.#handBack([{ delivery, item }]);
      return;
    }
    const { options, name } = this.#processor.routes[item.route]!;
    const delay = backoffDelay(options.backoff, item.attempt);
    this.stats.retries++;
    this.#log('info', 'retrying', { id: item.message.id, handler: name, attempt: item.attempt + 1, delayMs: Math.round(delay) });
    const timer = setTimeout(() => {
      this.#retrying.delete(timer);
      this.#dispatcher.push(delivery, { ...item, attempt: item.attempt + 1 });
    }, delay);
    this.#retrying.set(timer, { delivery, item });
  }

  /** On shutdown, retries still waiting are handed back to the transport. */
  #nackRetries(): void {
    for (const timer of this.#retrying.keys()) clearTimeout(timer);
    const waiting = [...this.#retrying.values()];
    this.#retrying.clear();
    this.#handBack(waiting);
  }

  /** Nacks messages: requeued where the transport can, else stored as dead letters `nacked` so none is lost. */
  #handBack(entries: readonly { delivery: Delivery; item: RunItem<M> }[]): void {
    const nacks: Delivery[] = [];
    const dead: DeadLetterEntry[] = [];
    for (const { delivery, item } of entries) {
      if (this.#adapter.canRequeue) nacks.push(delivery);
      else {
        dead.push(this.#entry(delivery, item.message.id, deadLetter(Reasons.nacked, null), item.route, item.message.meta, item.attempt));
      }
    }
    this.#settler.nack(nacks);
    this.#settler.deadLetter(dead);
  }

  #entry(
    delivery: Delivery,
    id: string,
    outcome: DeadLetterOutcome,
    route: number | null,
    meta = delivery.meta,
    attempts = meta?.deliveryCount ?? 1,
  ): DeadLetterEntry {
    const handler = route === null ? null : this.#processor.routes[route]!.name;
    const confidential = isConfidential(this.#processor, route);
    const letter = letterFor({ id, body: delivery.body, meta }, outcome, handler, this.#fingerprint, attempts, confidential);
    return { delivery, letter };
  }

  #progress(): void {
    if (this.#capacity && this.stats.inFlight < this.#maxInFlight) {
      const resume = this.#capacity;
      this.#capacity = undefined;
      resume();
    }
    if (this.#drained && this.stats.inFlight === 0) this.#drained();
  }

  /** Waits until every message read is settled, or the run gives up. */
  async #drain(): Promise<void> {
    while (this.stats.inFlight > 0 && !this.#gaveUp) {
      await new Promise<void>((resolve) => (this.#drained = resolve));
      this.#drained = undefined;
    }
    // Having given up, never wait for the batches: a handler that never returns would hold the run forever.
    if (!this.#gaveUp) await this.#dispatcher.idle().then(undefined, () => {});
  }

  /**
   * Stops waiting for in-flight messages: those a transport can redeliver are nacked, the rest are counted as
   * unsettled and reported. Never dead-letters: they did not fail, the run ran out of time.
   */
  #giveUp(why: string): void {
    if (this.#gaveUp) return;
    const pending = [...this.#dispatcher.running].flatMap((batch) => batch.deliveries);
    this.#gaveUp = true;
    this.#log('warn', `${why}: giving up on ${this.stats.inFlight} in-flight messages`, {
      requeued: this.#adapter.canRequeue ? pending.length : 0,
    });
    if (this.#adapter.canRequeue) this.#settler.nack(pending);
    this.stats.unsettled += this.stats.inFlight;
    this.#capacity?.();
    this.#drained?.();
  }

  /** Something the run cannot go on after: stop reading, give back what can be given back, and report. */
  #fail(error: unknown, deliveries: readonly Delivery[]): void {
    this.#log('error', 'run failed', { error: describe(error) });
    this.#failure ??= error;
    if (this.#adapter.canRequeue) this.#settler.nack(deliveries);
    else this.stats.unsettled += deliveries.length;
    if (!this.#stopping) {
      this.#stopping = true;
      void this.#adapter.stop().catch(() => {});
      this.#drainTimer = setTimeout(() => this.#giveUp('failure'), Math.min(this.#drainTimeoutMs, 5000));
      this.#drainTimer.unref();
    }
    this.#capacity?.();
    this.#progress();
  }
}

function assertCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be a whole number of at least ${min}, got ${value}`);
  }
}
