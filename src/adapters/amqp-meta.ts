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
   * Deliveries so far, this one included: 1 when not `redelivered`; else from the `x-delivery-count` header (quorum
   * queues count earlier deliveries) plus one; undefined when the broker does not say (classic queues).
   */
  readonly deliveryCount: number | undefined;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly contentType: string | undefined;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
}

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
    const headers = given === undefined || isEmpty(given) ? NO_HEADERS : given;
    const earlier = headers['x-delivery-count'];
    const deliveryCount = typeof earlier === 'number' ? earlier + 1 : fields.redelivered ? undefined : 1;
    const last = this.#last;
    if (
      last !== undefined &&
      last.source === source &&
      last.exchange === fields.exchange &&
      last.routingKey === fields.routingKey &&
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
      exchange: fields.exchange,
      routingKey: fields.routingKey,
      redelivered: fields.redelivered,
      deliveryCount,
      headers,
      contentType: properties.contentType,
      correlationId: properties.correlationId,
      replyTo: properties.replyTo,
    }));
  }
}

function isEmpty(headers: Record<string, unknown>): boolean {
  for (const _ in headers) return false;
  return true;
}
