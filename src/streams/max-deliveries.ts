import type { DeliveryLimit } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import { Reasons } from '../outcome.js';

/**
 * The max-deliveries rule, the one place it is written for every transport that redelivers (RabbitMQ, Redis
 * Streams, NATS, memory): a delivery whose transport count (`meta.deliveryCount`) is above the adapter's
 * `deliveryLimit` is not handled again but rejected, so the pipeline stores it as a dead letter `too many
 * deliveries` and acks it only once the letter is committed. A delivery the transport does not count passes.
 */
export function overDeliveryLimit(
  delivery: Delivery,
  limit: DeliveryLimit | undefined,
): { readonly reason: string; readonly error: string } | undefined {
  if (limit === undefined) return undefined;
  const count = delivery.meta?.deliveryCount;
  if (count === undefined || count <= limit.maxDeliveries) return undefined;
  return {
    reason: Reasons.tooManyDeliveries,
    error: `delivered ${count} times (${limit.option} ${limit.maxDeliveries})`,
  };
}
