/**
 * A Delivery is what a transport hands over: the bytes, the transport's metadata, and whatever the adapter needs
 * to settle it. The adapter never decodes the body; the processor's message class does.
 */
export interface Delivery {
  /** The message bytes, exactly as the transport gave them. */
  readonly body: Buffer;
  /** The transport's id for this message, where it has one (stream entry id, AMQP messageId). */
  readonly id?: string;
  /**
   * Transport metadata, visible to handlers as `ctx.delivery` and stored with dead letters. It crosses to worker
   * threads, so it must be structured-cloneable (plain objects, strings, numbers).
   */
  readonly meta?: DeliveryMeta;
  /**
   * Set by the adapter when it already knows the message cannot be processed (a line over the size limit):
   * the message goes straight to the dead-letter store with this reason, no matcher runs.
   */
  readonly rejected?: { readonly reason: string; readonly error?: string };
  /** Adapter-private handle used to settle the delivery. It never leaves the main thread. */
  readonly handle?: unknown;
}

/** Transport metadata carried with a delivery. Adapters add their own keys (routingKey, streamId, line...). */
export interface DeliveryMeta {
  /** Where the message came from: `stdin`, `file:orders.jsonl`, `redis-streams:orders`, `amqp:orders`... */
  readonly source?: string;
  /** Transport headers (AMQP headers, stream entry fields, HTTP headers). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** How many times the transport has delivered this message, this time included, where it knows. */
  readonly deliveryCount?: number;
  readonly [key: string]: unknown;
}

/**
 * The headers of a delivery that has none: one shared frozen object, so adapters do not make an empty object per
 * message (objects held in flight are what young-generation collections copy).
 */
export const NO_HEADERS: Readonly<Record<string, never>> = Object.freeze({});
