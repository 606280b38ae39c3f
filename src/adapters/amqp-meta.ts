import type { ConsumeMessage } from 'amqplib';
import { NO_HEADERS, type DeliveryMeta } from '../delivery.js';

/**
 * Transport metadata of an AMQP delivery, as `ctx.delivery` shows it. Frozen: consecutive deliveries with equal
 * metadata share one object.
 */
export interface AmqpDeliveryMeta extends DeliveryMeta {
  readonly source: string;
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
  /** Whether the broker delivered this message before (to this consumer or another) without an ack. */
  readonly redelivered: boolean;
  /**
   * Deliveries so far, this one included: the nacks counted in {@link REQUEUES_HEADER} (a nacked message is
   * published again with it, see `AmqpAdapter.nack`), plus the broker's own count of earlier deliveries (quorum
   * queues say it in `x-delivery-count`; a classic queue only says `redelivered`, which counts as one), plus one.
   */
  readonly deliveryCount: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly contentType: string | undefined;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
}

/**
 * The header a nacked message is published again with: how many deliveries it had before, so the count survives
 * the republish, a consumer restart, and any number of consumers (see `AmqpAdapter.nack`).
 */
export const REQUEUES_HEADER = 'x-missive-deliveries';
/** The exchange and routing key a message was first published with, kept when it is published again to its queue. */
export const EXCHANGE_HEADER = 'x-missive-exchange';
export const ROUTING_KEY_HEADER = 'x-missive-routing-key';
/**
 * The header that names one copy of a nacked message, so the consumer that published it can hold the copy back until
 * RabbitMQ has applied the original's ack (see `AmqpAdapter.nack`). Left out of the delivery's `headers`.
 */
export const COPY_HEADER = 'x-missive-copy';

/**
 * Builds the metadata of a consumer's deliveries. Consecutive deliveries mostly have equal metadata (one queue, one
 * routing key, no headers, not redelivered), and those share one frozen object: a message in flight then holds one
 * object fewer, and objects held in flight are what V8's young-generation collections copy; a batch sent to a worker
 * clones its metadata once instead of once per message. amqplib gives every message a headers object of its own,
 * empty when it has none, so empty ones become one shared frozen object as well.
 */
export class AmqpMetas {
  #last: AmqpDeliveryMeta | undefined;

  of(source: string, queue: string, message: ConsumeMessage): AmqpDeliveryMeta {
    const { fields, properties } = message;
    const given = properties.headers as Record<string, unknown> | undefined;
    const headers =
      given === undefined || isEmpty(given) ? NO_HEADERS : COPY_HEADER in given ? withoutCopy(given) : given;
    const requeued = headers[REQUEUES_HEADER];
    const counted = headers['x-delivery-count'];
    const deliveryCount =
      (typeof requeued === 'number' ? requeued : 0) +
      (typeof counted === 'number' ? counted : fields.redelivered ? 1 : 0) +
      1;
    const keptExchange = headers[EXCHANGE_HEADER];
    const keptKey = headers[ROUTING_KEY_HEADER];
    const exchange = typeof keptExchange === 'string' ? keptExchange : fields.exchange;
    const routingKey = typeof keptKey === 'string' ? keptKey : fields.routingKey;
    const last = this.#last;
    if (
      last !== undefined &&
      last.source === source &&
      last.exchange === exchange &&
      last.routingKey === routingKey &&
      last.redelivered === fields.redelivered &&
      last.deliveryCount === deliveryCount &&
      last.headers === headers &&
      last.contentType === properties.contentType &&
      last.correlationId === properties.correlationId &&
      last.replyTo === properties.replyTo
    ) {
      return last;
    }
    // Frozen, as handlers of other messages may be given the same object.
    return (this.#last = Object.freeze({
      source,
      queue,
      exchange,
      routingKey,
      redelivered: fields.redelivered,
      deliveryCount,
      headers,
      // amqplib types these properties `any`; the broker sends short strings or nothing.
      contentType: properties.contentType as string | undefined,
      correlationId: properties.correlationId as string | undefined,
      replyTo: properties.replyTo as string | undefined,
    }));
  }
}

function withoutCopy(headers: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...headers };
  delete rest[COPY_HEADER];
  return rest;
}

function isEmpty(headers: Record<string, unknown>): boolean {
  for (const _ in headers) return false;
  return true;
}
