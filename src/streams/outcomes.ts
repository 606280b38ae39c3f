import type { Adapter } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import type { Fingerprint } from '../dlq/dlq.js';
import { letterFor } from '../dlq/letter-for.js';
import { describe } from '../errors.js';
import type { LineBlock } from '../line-block.js';
import type { Log } from '../log.js';
import { Message } from '../message.js';
import { Reasons, deadLetter, type DeadLetterOutcome } from '../outcome.js';
import { isConfidential } from '../confidential.js';
import type { Processor } from '../processor.js';
import { backoffDelay, shouldRetry, type Backoff } from '../retry.js';
import { UNROUTED } from '../routing.js';
import type { BlockResult } from '../workers/block.js';
import { ROUTE_FAILED, type BatchResult, type RunItem } from '../workers/runtime.js';
import type { Batch } from './dispatch.js';
import type { OutcomeEvents } from './events.js';
import type { DeadLetterEntry, Settler } from './settle.js';
import type { Stats } from './stats.js';

/** What {@link Outcomes} works with. */
export interface OutcomesOptions<M extends Message<unknown>> {
  readonly adapter: Adapter;
  readonly processor: Processor<M>;
  readonly settler: Settler;
  readonly stats: Stats;
  readonly log: Log;
  readonly fingerprint: Fingerprint;
  /** Retries for handlers that set none. */
  readonly defaultRetries: number;
  /** The wait before every retry, replacing each handler's `backoff` (the run's `retryDelays`). */
  readonly backoff?: Backoff;
  /** Sends a message to be tried again. */
  readonly retry: (delivery: Delivery, item: RunItem<M>) => void;
  /** Whether the run is stopping: no new attempts then. */
  readonly stopping: () => boolean;
  /** Whether the run gave up: results that come in after that are dropped. */
  readonly gaveUp: () => boolean;
  /** Told of every retry, for an embedder's telemetry. */
  readonly events?: OutcomeEvents;
}

/**
 * Turns what the executor answered into settles: acks, nacks, retries after their backoff, dead letters, and the
 * handlers' replies sent before their message is acked. The one place these rules are written.
 */
export class Outcomes<M extends Message<unknown>> {
  readonly #options: OutcomesOptions<M>;
  /** Messages waiting to be tried again: still in flight, so they count against the cap. */
  readonly #retrying = new Map<NodeJS.Timeout, { delivery: Delivery; item: RunItem<M> }>();

  constructor(options: OutcomesOptions<M>) {
    this.#options = options;
  }

  /** Settles a batch of deliveries with its result, one outcome per delivery. */
  settleBatch(batch: Batch<M>, result: BatchResult): void {
    if (this.#options.gaveUp()) return;
    for (const warning of result.warnings) this.#options.log('warn', warning.text, { id: warning.id });
    if (result.replies) {
      this.#replyThenSettle(batch, result);
      return;
    }
    this.#settleOutcomes(batch, result);
  }

  /**
   * Settles a block's answer: its plain acks as one count (a line adapter has nothing to ack), and each exception
   * as a delivery of its own, with its bytes copied out of the block so the block can be let go.
   */
  settleBlock(block: LineBlock, result: BlockResult): void {
    if (this.#options.gaveUp()) return;
    for (const warning of result.warnings) this.#options.log('warn', warning.text, { id: warning.id });
    // A replied message is listed even when it was acked: its answer is sent first.
    this.#options.settler.countBlockAcks(result.messages - result.exceptions.length);
    if (result.exceptions.length === 0) return;
    const deliveries: Delivery[] = [];
    const items: RunItem<M>[] = [];
    const routes = new Int32Array(result.exceptions.length);
    result.exceptions.forEach((exception, k) => {
      const { start, end, line } = exception;
      const body = Buffer.allocUnsafeSlow(end - start);
      body.set(block.bytes.subarray(start, end));
      const id = `${block.idStart}${line}`;
      const meta = { source: block.source, line };
      deliveries.push({ body, id, meta });
      // Routed in the worker: the main thread only needs the message's id and bytes, never its decoded value.
      items.push({ route: UNROUTED, attempt: 1, message: new Message(body, id, meta) as unknown as M });
      routes[k] = exception.route;
    });
    const outcomes = result.exceptions.map((exception) => exception.outcome);
    this.settleBatch({ deliveries, items }, { outcomes, warnings: [], replies: result.replies, routes });
  }

  /** Dead-letter entries for deliveries that failed before reaching a worker (rejected, undecodable, unroutable). */
  entry(
    delivery: Delivery,
    id: string,
    outcome: DeadLetterOutcome,
    route: number | null,
    meta = delivery.meta,
    attempts = meta?.deliveryCount ?? 1,
  ): DeadLetterEntry {
    const { processor, fingerprint } = this.#options;
    const handler = route === null ? null : processor.routes[route]!.name;
    const confidential = isConfidential(processor, route);
    const letter = letterFor({ id, body: delivery.body, meta }, outcome, handler, fingerprint, attempts, confidential);
    return { delivery, letter };
  }

  /** Ids of the messages waiting to be tried again. */
  retryingIds(): string[] {
    return [...this.#retrying.values()].map(({ item }) => item.message.id);
  }

  /** On shutdown, retries still waiting are handed back to the transport. */
  nackRetries(): void {
    for (const timer of this.#retrying.keys()) clearTimeout(timer);
    const waiting = [...this.#retrying.values()];
    this.#retrying.clear();
    this.#handBack(waiting);
  }

  /** Sends the handlers' answers first; a message whose answer cannot be sent becomes a dead letter. */
  #replyThenSettle(batch: Batch<M>, result: BatchResult): void {
    const { adapter } = this.#options;
    const outcomes = [...result.outcomes];
    const sends = result.replies!.map(async ({ index, body }) => {
      try {
        if (!adapter.reply) throw new Error(`the ${adapter.name} adapter cannot send replies`);
        await adapter.reply(batch.deliveries[index]!, body);
      } catch (error) {
        outcomes[index] = deadLetter(Reasons.replyFailed, describe(error));
      }
    });
    void Promise.all(sends).then(() => {
      if (!this.#options.gaveUp()) this.#settleOutcomes(batch, { ...result, outcomes });
    });
  }

  #settleOutcomes(batch: Batch<M>, result: BatchResult): void {
    const { adapter, settler } = this.#options;
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
      if (outcome.kind === 'nack' && adapter.canRequeue) nacks.push(delivery);
      else if (outcome.kind === 'dead-letter' && route !== null && this.#shouldRetry(outcome, route, item.attempt)) {
        this.#retry(delivery, { ...item, route });
      } else {
        const failed = outcome.kind === 'nack' ? deadLetter(Reasons.nacked, null) : outcome;
        dead.push(this.entry(delivery, message.id, failed, route, message.meta, item.attempt));
      }
    }
    settler.ack(acks);
    settler.nack(nacks);
    settler.deadLetter(dead);
  }

  #shouldRetry(outcome: DeadLetterOutcome, route: number, attempt: number): boolean {
    const retries = this.#options.processor.routes[route]!.options.retries ?? this.#options.defaultRetries;
    return shouldRetry(outcome, attempt, retries);
  }

  /** Tries a failed message again after its backoff, without holding back the messages behind it. */
  #retry(delivery: Delivery, item: RunItem<M>): void {
    if (this.#options.stopping()) {
      // No new attempts once stopping: the transport gets it back, as with any unfinished message.
      this.#handBack([{ delivery, item }]);
      return;
    }
    const { options, name } = this.#options.processor.routes[item.route]!;
    const delay = backoffDelay(this.#options.backoff ?? options.backoff, item.attempt);
    this.#options.stats.retries++;
    const retrying = { id: item.message.id, handler: name, attempt: item.attempt + 1, delayMs: Math.round(delay) };
    this.#options.log('info', 'retrying', retrying);
    this.#options.events?.retrying(retrying);
    const timer = setTimeout(() => {
      this.#retrying.delete(timer);
      this.#options.retry(delivery, { ...item, attempt: item.attempt + 1 });
    }, delay);
    this.#retrying.set(timer, { delivery, item });
  }

  /** Nacks messages: requeued where the transport can, else stored as dead letters `nacked` so none is lost. */
  #handBack(entries: readonly { delivery: Delivery; item: RunItem<M> }[]): void {
    const { adapter, settler } = this.#options;
    const nacks: Delivery[] = [];
    const dead: DeadLetterEntry[] = [];
    for (const { delivery, item } of entries) {
      if (adapter.canRequeue) nacks.push(delivery);
      else {
        dead.push(
          this.entry(
            delivery,
            item.message.id,
            deadLetter(Reasons.nacked, null),
            item.route,
            item.message.meta,
            item.attempt,
          ),
        );
      }
    }
    settler.nack(nacks);
    settler.deadLetter(dead);
  }
}
