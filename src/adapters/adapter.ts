import type { Readable } from 'node:stream';
import type { Delivery } from '../delivery.js';

/** What the pipeline tells an adapter when it opens it. */
export interface AdapterOpenOptions {
  /**
   * The most messages the pipeline holds unsettled at once. Transports that enforce a window themselves use it
   * (AMQP prefetch, Redis COUNT); the others rely on stream backpressure.
   */
  readonly maxInFlight: number;
  /**
   * For adapters that hand over blocks of lines: the most lines one block may hold. Set when the run was given an
   * in-flight cap smaller than a block would hold; absent, blocks are cut by bytes only.
   */
  readonly maxBlockLines?: number;
  /**
   * How many threads run handlers at once (1 when they run in the main thread). A line adapter reading a file cuts
   * its last blocks finer the more there are, so that none waits at the end while another finishes a large block.
   * Default 1.
   */
  readonly parallelism?: number;
}

/** How many times a transport that redelivers may deliver one message before the pipeline gives up on it. */
export interface DeliveryLimit {
  /** A delivery whose `meta.deliveryCount` is above this becomes a dead letter `too many deliveries`. */
  readonly maxDeliveries: number;
  /** How the user set it, quoted in the dead letter's error: `--max-deliveries`, `maxDeliveries`. */
  readonly option: string;
}

/** How a delivery was settled when it is acked, for transports that answer differently (HTTP). */
export type AckKind = 'handled' | 'dead-lettered';

/**
 * One transport. The pipeline opens it, reads batches of deliveries from the returned stream, and settles each
 * delivery exactly once with `ack` or `nack`. The same processor runs unchanged on every adapter.
 */
export interface Adapter<Client = unknown> {
  /** Short name for logs: `stdin`, `file`, `redis-streams`, `amqp`... */
  readonly name: string;
  /**
   * Whether `nack` makes the transport deliver the message again. When false, the pipeline stores a nacked
   * message as a dead letter with reason `nacked` and then acks it, so nothing is lost.
   */
  readonly canRequeue: boolean;
  /**
   * For transports that deliver a message again after a nack (or a lost consumer): the most deliveries one message
   * may have, counted by the transport in `meta.deliveryCount`. The pipeline stores a delivery over it as a dead
   * letter `too many deliveries`, then acks it, instead of handling it again, so a poison message cannot loop
   * forever. Absent: no limit (the transport cannot redeliver, or does not count).
   */
  readonly deliveryLimit?: DeliveryLimit;
  /** The transport client, for what only that transport can do (ioredis, amqplib channel, http server). */
  readonly client: Client | undefined;
  /**
   * Connects and starts consuming. Resolves with an object-mode Readable whose chunks are `Delivery[]` (batches, so
   * the stream costs little per message) or, for line input, `LineBlock`s: whole lines as bytes, which the
   * workers split, so the main thread never visits a line. A block's messages are not acked one by one: blocks
   * are for inputs with nothing to ack and no redelivery (`canRequeue` false). The adapter reads from its
   * transport only as fast as the stream is read.
   * The stream ends at the end of input, or after `stop()`. Fails with a clear error naming what could not be reached.
   */
  open(options: AdapterOpenOptions): Promise<Readable>;
  /** Tells the transport these deliveries are done with. Called at most once per delivery. */
  ack(deliveries: readonly Delivery[], kind: AckKind): Promise<void> | void;
  /**
   * For transports whose acks can be lost on the way (an AMQP ack has no answer, and RabbitMQ discards one that
   * arrives as the connection closes): acks like `ack`, and resolves with how many of `deliveries` the transport is
   * known to have taken; the others it took back and delivers again, or may have taken as the connection closed
   * (never more than it took is counted). When present, the pipeline calls it instead of `ack` for handled messages
   * and counts as acked only what it confirms, the rest as `requeuedByBroker`; until then they count as in flight.
   * Absent: `ack` is trusted.
   */
  ackConfirmed?(deliveries: readonly Delivery[], kind: AckKind): Promise<number>;
  /**
   * Whether the transport has taken `delivery` back by itself, so that settling it can no longer reach it: RabbitMQ
   * requeues every unacked delivery of a channel that closes, and delivers it again. The pipeline asks before a
   * delivery reaches a handler and drops those taken back (counted as `requeuedByBroker`), so a lost connection does
   * not cost a window of handler runs whose acks are thrown away. Absent: no delivery is ever taken back.
   */
  revoked?(delivery: Delivery): boolean;
  /**
   * Takes back deliveries the stream handed over that a stopping run did not read (the rest of a batch that waited
   * for room under the in-flight cap): an adapter that cannot requeue accounts for them itself, as Redis Pub/Sub
   * counts them dropped `held at stop`. Absent: they are nacked where the transport can requeue, else counted as
   * read and unsettled.
   */
  leftUnread?(deliveries: readonly Delivery[]): void;
  /**
   * Messages the adapter took from its transport and discarded before handing them over, by why (Redis Pub/Sub:
   * `buffer full`, `held at stop`). Read when the run ends, for its summary and `--stats-file`. Absent: none ever.
   */
  readonly droppedByReason?: Readonly<Record<string, number>>;
  /** Requests the adapter refused itself, by HTTP status, for `missive_http_rejections_total`. Absent: none ever. */
  readonly rejectedByStatus?: Readonly<Record<string, number>>;
  /** Asks the transport to deliver these again. Only called when `canRequeue` is true. */
  nack(deliveries: readonly Delivery[]): Promise<void> | void;
  /**
   * Answers a delivery (request/reply), for transports that can: AMQP publishes to the message's `replyTo` with
   * its `correlationId`. Called before the delivery is acked. Absent on transports that cannot reply.
   */
  reply?(delivery: Delivery, body: Buffer): Promise<void> | void;
  /** Stops taking new messages: the stream ends soon after. Deliveries already read may still be settled. */
  stop(): Promise<void>;
  /** Releases the transport. Called once every delivery read has been settled, or given up on shutdown. */
  close(): Promise<void>;
}
