import { randomBytes } from 'node:crypto';
import type { Delivery } from '../delivery.js';
import { describe } from '../errors.js';
import { forgetDecoded, type Message } from '../message.js';
import { Reasons, deadLetter } from '../outcome.js';
import type { DeliveryLimit } from '../adapters/adapter.js';
import type { Processor } from '../processor.js';
import { UNROUTED, chooseRoute } from '../routing.js';
import type { Dispatcher } from './dispatch.js';
import { overDeliveryLimit } from './max-deliveries.js';
import type { Outcomes } from './outcomes.js';
import type { DeadLetterEntry, Settler } from './settle.js';
import type { Stats } from './stats.js';

/** What {@link Intake} works with. */
export interface IntakeOptions<M extends Message<unknown>> {
  readonly processor: Processor<M>;
  /** Whether this thread runs the matchers (no workers, or `matchInWorkers: false`). */
  readonly routeHere: boolean;
  /** Whether handlers run in worker threads. */
  readonly offThread: boolean;
  readonly stats: Stats;
  readonly dispatcher: Dispatcher<M>;
  readonly outcomes: Outcomes<M>;
  readonly settler: Settler;
  /** The adapter's `deliveryLimit`: deliveries over it become dead letters `too many deliveries`. */
  readonly deliveryLimit: DeliveryLimit | undefined;
}

/**
 * Takes in deliveries admitted one by one (brokers, HTTP, line input routed in the main thread): each gets an id
 * and a message, is routed here or sent on unrouted, and goes to the dispatcher; one the adapter rejected, one
 * delivered too many times (see `overDeliveryLimit`), or one that does not decode or route, goes straight to the
 * dead-letter store.
 */
export class Intake<M extends Message<unknown>> {
  readonly #options: IntakeOptions<M>;
  /** Ids for deliveries the transport gave none: a per-run prefix and a counter. */
  readonly #idPrefix = randomBytes(4).toString('hex');
  #nextId = 0;

  constructor(options: IntakeOptions<M>) {
    this.#options = options;
  }

  accept(deliveries: readonly Delivery[]): void {
    const { processor, routeHere, offThread, stats, dispatcher, outcomes, settler, deliveryLimit } = this.#options;
    const { MessageClass, routes } = processor;
    const dead: DeadLetterEntry[] = [];
    stats.received += deliveries.length;
    for (const delivery of deliveries) {
      const id = delivery.id ?? `${this.#idPrefix}-${this.#nextId++}`;
      const rejected = delivery.rejected ?? overDeliveryLimit(delivery, deliveryLimit);
      if (rejected) {
        const outcome = deadLetter(rejected.reason, rejected.error ?? null);
        dead.push(outcomes.entry(delivery, id, outcome, null));
        continue;
      }
      let message: M;
      try {
        message = new MessageClass(delivery.body, id, delivery.meta);
      } catch (error) {
        dead.push(outcomes.entry(delivery, id, deadLetter(Reasons.decodeFailed, describe(error)), null));
        continue;
      }
      const route = routeHere ? chooseRoute(routes, message) : UNROUTED;
      if (typeof route === 'number') {
        // The worker decodes it again: the main thread keeps it only for bookkeeping.
        if (offThread) forgetDecoded(message);
        dispatcher.push(delivery, { route, message, attempt: delivery.meta?.deliveryCount ?? 1 });
      } else {
        dead.push(outcomes.entry(delivery, id, route, null));
      }
    }
    settler.deadLetter(dead);
  }
}
