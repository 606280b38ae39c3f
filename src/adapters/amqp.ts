import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Message,
  type MessageProperties,
  type Options,
} from 'amqplib';
import type { Delivery } from '../delivery.js';
import { InvalidOptionError, TransportError, describe } from '../errors.js';
import { wholeNumberOption } from '../options.js';
import { backoffDelay, type Backoff } from '../retry.js';
import type { Adapter, AdapterOpenOptions, DeliveryLimit } from './adapter.js';
import { DeliveryTags } from './amqp-acks.js';
import {
  AmqpMetas,
  COPY_HEADER,
  EXCHANGE_HEADER,
  REQUEUES_HEADER,
  ROUTING_KEY_HEADER,
  type AmqpDeliveryMeta,
} from './amqp-meta.js';
import { roundTrip } from './amqp-round-trip.js';

export type { AmqpDeliveryMeta };
import {
  DEFAULT_AMQP_URL,
  amqpUrlProblem,
  isPermanentAmqpError,
  redactAmqpUrl,
  resolveAmqpRetry,
  type AmqpRetryOptions,
  type ResolvedAmqpRetry,
} from './amqp-connection.js';
import { declareTopology, type AmqpTopology } from './amqp-topology.js';
import { resolveMaxMessageBytes } from './lines.js';
import { tooLarge } from '../too-large.js';
import type { CommonAdapterOptions } from './spec.js';
import { TickBatches } from './tick-batches.js';

/** Options of an {@link AmqpAdapter}. Only `queues` is required. */
export interface AmqpAdapterOptions extends AmqpRetryOptions {
  /** The broker, `amqp://user:password@host:port/vhost`. Default `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string;
  /** Queues to consume, all on one channel. */
  readonly queues: readonly string[];
  /** Only check that the queues exist (a missing one fails `open()`); declare nothing. Default false: declare durable. */
  readonly passive?: boolean;
  /** An existing exchange to bind every queue to, once per routing key. */
  readonly exchange?: string;
  /** Binding keys for `exchange`; none binds with the empty key. */
  readonly routingKeys?: readonly string[];
  /** The connection's name in RabbitMQ (`connection_name`), shown in its management tools. Default `missive:<host>-<pid>`. */
  readonly connectionName?: string;
  /** Larger bodies become dead letters `message too large` (their first bytes kept). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * How long acks may wait to be sent together, in ms; a quarter of the prefetch window waiting sends them at once.
   * Fewer ack frames is less work for the broker and for this thread (a socket write each); at most a quarter of the
   * window waits, so the broker keeps delivering meanwhile. Default 5, long enough for the acks of batches handled a
   * few ms apart to share a frame; 0 sends every `ack()` call's frames at once.
   */
  readonly ackLingerMs?: number;
  /**
   * A message delivered more times than this (each nack delivers it again) becomes a dead letter
   * `too many deliveries`. Default 5.
   */
  readonly maxDeliveries?: number;
  /**
   * The pause before a nacked message goes back to its queue, by its delivery count (1 for the first nack): a
   * message that fails every time then cannot spin through the handler. Default: the retry backoff's defaults
   * (200 ms, doubled each time, at most 30 s, with jitter).
   */
  readonly nackBackoff?: Backoff;
  /** Where connection trouble is reported. Default: nowhere. */
  readonly log?: CommonAdapterOptions['log'];
}

/** The AMQP prefetch count is a 16-bit field. */
const MAX_PREFETCH = 65_535;

/** One connection and its consumer channel. Delivery tags mean something only on the channel that issued them. */
interface Generation {
  readonly number: number;
  readonly model: ChannelModel;
  readonly channel: Channel;
  readonly tags: DeliveryTags;
  readonly consumerTags: string[];
  alive: boolean;
  /** Tags acked and not sent yet (see `ackLingerMs`). */
  acks: number[];
  /** Confirmations waiting for the acks in `acks` to be sent. */
  unsent: Receipt[];
  /** Confirmations whose acks were sent, waiting for a barrier to be asked for. */
  unconfirmed: Receipt[];
  /** Confirmations whose barrier is under way (or failed): its answer confirms them, else `#bury` does not. */
  readonly confirming: Set<Receipt>;
  /** The barrier under way: a round trip on the channel, behind the acks sent before it. */
  barrier?: Promise<void>;
  ackTimer?: NodeJS.Timeout;
  /** The confirm channel replies and nacked messages go out on, opened at the first of them. */
  publisher?: Promise<ConfirmChannel>;
}

/** A caller of `ackConfirmed` waiting to learn whether `count` acks reached RabbitMQ. */
interface Receipt {
  readonly count: number;
  readonly resolve: (confirmed: number) => void;
}

/** What settles one delivery: its tag, on the channel generation that delivered it. */
interface AmqpHandle {
  readonly generation: Generation;
  readonly tag: number;
  /** Its properties as received, to publish it again when it is nacked. */
  readonly properties: MessageProperties;
}

/**
 * Consumes RabbitMQ queues (AMQP 0-9-1, amqplib), at least once: a message leaves its queue when it is acked.
 *
 * The prefetch count is the pipeline's in-flight cap (split between the queues, as RabbitMQ counts it per consumer),
 * so the broker never sends more than the pipeline may hold, and the stream holds at most that window. Acks wait up to
 * `ackLingerMs` to go out together, grouped into `multiple` frames where that is safe (see {@link DeliveryTags}).
 * A nacked message goes back to its queue after a pause, counted (see {@link AmqpAdapter.nack}), and past
 * `maxDeliveries` the pipeline stores it as a dead letter `too many deliveries`.
 *
 * A lost connection or channel is recovered: reconnect with exponential backoff and jitter (a `warn` line each
 * attempt, at most `maxReconnectDelayMs` apart), declare the topology again, consume again, on the same stream.
 * Delivery tags belong to the channel that issued them, and RabbitMQ requeues every delivery of a lost channel that
 * it has not seen acked, to deliver it again, `redelivered` set. So deliveries of a lost channel are
 * {@link AmqpAdapter.revoked} (the pipeline drops those that have not reached a handler), settles for them are
 * dropped (with a `warn` line), and {@link AmqpAdapter.ackConfirmed} tells which acks RabbitMQ took.
 */
export class AmqpAdapter implements Adapter<Channel> {
  /** @inheritdoc */
  readonly name = 'amqp';
  /** @inheritdoc */
  readonly canRequeue = true;
  /** @inheritdoc */
  readonly deliveryLimit: DeliveryLimit;
  /** The queues consumed. */
  readonly queues: readonly string[];
  /** This adapter's connection name in RabbitMQ (`rabbitmqctl list_connections client_properties`). */
  readonly connectionName: string;
  readonly #url: string;
  readonly #safeUrl: string;
  readonly #topology: AmqpTopology;
  readonly #retry: ResolvedAmqpRetry;
  readonly #maxMessageBytes: number;
  readonly #ackLingerMs: number;
  readonly #log: CommonAdapterOptions['log'];
  readonly #nackBackoff: Backoff | undefined;
  /** Nacked deliveries waiting out their pause. */
  readonly #pausing = new Map<NodeJS.Timeout, Delivery>();
  /** Nacked messages being published again, acked once RabbitMQ has the copy. */
  readonly #requeuing = new Set<Promise<void>>();
  /** Copies of nacked messages whose original's ack RabbitMQ has not confirmed yet, by `COPY_HEADER`: held back. */
  readonly #held = new Map<string, Delivery[]>();
  #batches: TickBatches | undefined;
  #prefetch = 1;
  /** Acks waiting past this many are sent at once. */
  #ackBatch = 1;
  #generations = 0;
  #current: Generation | undefined;
  #reconnecting: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #closing = false;
  #reconnects = 0;
  #frames = 0;
  readonly #metas = new AmqpMetas();

  /** @param options The queues, and how to reach and set them up; see {@link AmqpAdapterOptions}. */
  constructor(options: AmqpAdapterOptions) {
    this.#url = options.url ?? DEFAULT_AMQP_URL;
    const problem = amqpUrlProblem(this.#url);
    if (problem) throw new InvalidOptionError(problem);
    this.#safeUrl = redactAmqpUrl(this.#url);
    const queues = [...new Set(options.queues)];
    if (queues.length === 0 || queues.includes('')) {
      throw new InvalidOptionError('give at least one queue to consume (--queue), none empty');
    }
    const routingKeys = options.routingKeys ?? [];
    if (routingKeys.length > 0 && options.exchange === undefined) {
      throw new InvalidOptionError('routing keys bind queues to an exchange: give the exchange too (--exchange)');
    }
    if (options.passive && options.exchange !== undefined) {
      throw new InvalidOptionError(
        'passive only checks that queues exist and declares nothing, bindings included: drop the exchange, or passive',
      );
    }
    this.queues = queues;
    this.#topology = { queues, passive: options.passive ?? false, exchange: options.exchange, routingKeys };
    this.connectionName = options.connectionName ?? `missive:${hostname()}-${process.pid}`;
    this.#retry = resolveAmqpRetry(options);
    this.#maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#ackLingerMs = options.ackLingerMs ?? 5;
    if (!(this.#ackLingerMs >= 0) || !Number.isFinite(this.#ackLingerMs)) {
      throw new InvalidOptionError(`ackLingerMs must be 0 or more, got ${options.ackLingerMs}`);
    }
    this.#log = options.log ?? (() => {});
    const maxDeliveries = wholeNumberOption('maxDeliveries', options.maxDeliveries ?? 5, 1);
    this.deliveryLimit = { maxDeliveries, option: '--max-deliveries' };
    this.#nackBackoff = options.nackBackoff;
  }

  /** The consumer channel; undefined until `open()`, while reconnecting, and after `close()`. */
  get client(): Channel | undefined {
    return this.#current?.alive ? this.#current.channel : undefined;
  }

  /** The prefetch count of each consumer, set at `open()`. */
  get prefetch(): number {
    return this.#prefetch;
  }

  /** How many times the connection was re-established after a loss. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Ack and nack frames sent so far, on every channel: with settles in delivery order, far fewer than messages. */
  get settleFrames(): number {
    return this.#frames + (this.#current?.tags.frames ?? 0);
  }

  /**
   * Connects (retrying with backoff, a `warn` line per failed attempt), declares or checks the topology, and
   * starts consuming. Fails with a `TransportError` naming the URL (password hidden) when the broker cannot be
   * reached, or at once when it refuses the topology (a missing queue under `passive`).
   */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#batches) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    const window = Math.max(1, options?.maxInFlight ?? 1000);
    this.#prefetch = Math.min(MAX_PREFETCH, Math.max(1, Math.floor(window / this.queues.length)));
    this.#ackBatch = Math.max(1, Math.floor(this.#prefetch / 4));
    const batches = new TickBatches((unwanted) => this.#giveBack(unwanted));
    this.#batches = batches;
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        this.#current = await this.#establish();
        // A reader that goes away (the stream destroyed) must not leave the consumers running: their deliveries
        // could only be requeued, over and over.
        batches.readable.once('close', () => void this.stop());
        return batches.readable;
      } catch (error) {
        lastError = error;
        if (isPermanentAmqpError(error) || error instanceof TransportError || attempt >= this.#retry.connectAttempts)
          break;
        const delay = Math.round(backoffDelay(this.#retry.connectBackoff, attempt));
        this.#log(
          'warn',
          `cannot connect to RabbitMQ at ${this.#safeUrl} (${describe(error)}); retrying in ${delay} ms`,
          {
            connection: this.connectionName,
            attempt,
            of: this.#retry.connectAttempts,
          },
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    // Nobody reads the stream yet: end it quietly (an error event would have no listener), and allow another open.
    this.#batches = undefined;
    batches.readable.destroy();
    if (lastError instanceof TransportError) throw lastError;
    const attempts = this.#retry.connectAttempts;
    throw new TransportError(
      isPermanentAmqpError(lastError)
        ? `RabbitMQ at ${this.#safeUrl} refused the connection: ${describe(lastError)}; check the user, password and vhost in --amqp-url`
        : `cannot connect to RabbitMQ at ${this.#safeUrl} (${describe(lastError)}) after ${attempts} attempt` +
            `${attempts === 1 ? '' : 's'}; check that RabbitMQ is running there and that --amqp-url is right`,
      { cause: lastError },
    );
  }

  /**
   * Acks on the channel that delivered them, in as few frames as is safe, within `ackLingerMs`; settles for a lost
   * channel are dropped.
   */
  ack(deliveries: readonly Delivery[]): void {
    this.#settle(deliveries, 'ack');
  }

  /**
   * Acks like `ack`, and resolves with how many of these acks RabbitMQ is known to have applied. An AMQP ack has no
   * answer, so once the acks are sent a round trip on the same channel follows them (a `basic.qos` that changes
   * nothing): RabbitMQ handles a channel's frames in order, so its answer means every ack before it was applied. One
   * round trip is under way at a time, covering every ack sent before it. Acks of a channel lost before their
   * answer count as not applied: RabbitMQ requeued those messages and delivers them again, except the few it
   * applied just as it closed the connection (its answer comes after the closing frame, and is never read), which
   * a `warn` line counts. So the count never says more than RabbitMQ applied.
   */
  ackConfirmed(deliveries: readonly Delivery[]): Promise<number> {
    // Registered before the acks go out, so the flush that sends them hands them to the round trip behind them.
    const receipts = this.#receipts(deliveries);
    this.ack(deliveries);
    if (receipts.length === 1) return receipts[0]!;
    return Promise.all(receipts).then((counts) => counts.reduce((sum, count) => sum + count, 0));
  }

  /**
   * Whether RabbitMQ has taken this delivery back: its channel closed, so it requeued the message and delivers it
   * again on the new channel. Settling it is no longer possible.
   */
  revoked(delivery: Delivery): boolean {
    return (delivery.handle as AmqpHandle | undefined)?.generation.alive === false;
  }

  /**
   * Hands messages back to their queue, counted, after a pause (`nackBackoff`, by delivery count).
   *
   * A `basic.nack` with requeue cannot carry a count: a classic queue only marks the message `redelivered`, and only
   * quorum queues count (`x-delivery-count`). Counting nacks in this process would forget them at a restart, and
   * each consumer of a shared queue would count its own. So once its pause is over a nacked message is published
   * again to its queue (default exchange, on a confirm channel), its properties kept, with its deliveries so far in
   * the {@link REQUEUES_HEADER} header and its first exchange and routing key kept in headers too; the original is
   * acked (at once, without `ackLingerMs`) only once RabbitMQ has confirmed the copy. The count lives in the message:
   * it survives restarts and is shared by every consumer. RabbitMQ may deliver the copy before confirming it, so
   * this consumer holds a copy it receives back (marked by {@link COPY_HEADER}) until RabbitMQ has applied the
   * original's ack. A crash between the confirm and that ack leaves both copies, which at-least-once allows (another
   * consumer of the queue may also run the copy within that window); a publish that fails falls back to a plain
   * requeue. The message goes to the back of its queue, behind the messages that
   * arrived meanwhile, so it no longer holds up the ones behind it.
   *
   * While stopping, a nack (and one still pausing) is a plain requeue at once, as are deliveries the stream never
   * handed over: RabbitMQ marks the message `redelivered`, which the next delivery counts.
   */
  nack(deliveries: readonly Delivery[]): void {
    if (this.#stopping) {
      this.#settle(deliveries, 'nack');
      return;
    }
    for (const delivery of deliveries) {
      const delay = backoffDelay(this.#nackBackoff, (delivery.meta as AmqpDeliveryMeta).deliveryCount);
      const timer = setTimeout(() => {
        this.#pausing.delete(timer);
        const requeued = this.#requeue(delivery).finally(() => this.#requeuing.delete(requeued));
        this.#requeuing.add(requeued);
      }, delay);
      this.#pausing.set(timer, delivery);
    }
  }

  /**
   * Publishes `body` to the delivery's `replyTo` queue (through the default exchange) with its `correlationId`, on
   * a confirm channel: resolves once RabbitMQ has taken the reply, so the request is acked only after that. While
   * reconnecting it waits for the new connection. Fails with a `TransportError` when the message has no `replyTo`.
   */
  async reply(delivery: Delivery, body: Buffer): Promise<void> {
    const meta = delivery.meta as Partial<AmqpDeliveryMeta> | undefined;
    const replyTo = meta?.replyTo;
    if (typeof replyTo !== 'string' || replyTo === '') {
      throw new TransportError(
        `message ${delivery.id ?? '(no id)'} from ${meta?.source ?? 'amqp'} has no replyTo property, so there is ` +
          'nowhere to send the reply; its sender must set replyTo (and correlationId) to get one',
      );
    }
    const generation = await this.#ready();
    try {
      await this.#publish(generation, replyTo, body, { correlationId: meta?.correlationId });
    } catch (error) {
      throw new TransportError(`RabbitMQ did not take the reply to ${replyTo}: ${describe(error)}`, { cause: error });
    }
  }

  /** Publishes to a queue through the default exchange, on the generation's confirm channel; resolves once confirmed. */
  async #publish(generation: Generation, queue: string, body: Buffer, options: Options.Publish): Promise<void> {
    generation.publisher ??= this.#openPublisher(generation);
    const channel = await generation.publisher;
    await new Promise<void>((resolve, reject) => {
      try {
        channel.publish('', queue, body, options, (error: unknown) => (error ? reject(error) : resolve()));
      } catch (error) {
        // The channel closed between the lookup and the publish.
        reject(error);
      }
    });
  }

  /** Publishes a nacked message again, counted (see `nack`), then acks the original; a plain requeue if that fails. */
  async #requeue(delivery: Delivery): Promise<void> {
    const { generation, properties } = delivery.handle as AmqpHandle;
    // A lost channel: RabbitMQ took the message back and delivers it again by itself.
    if (!generation.alive) return;
    const meta = delivery.meta as AmqpDeliveryMeta;
    const headers: Record<string, unknown> = { ...meta.headers, [REQUEUES_HEADER]: meta.deliveryCount };
    // Counted in REQUEUES_HEADER now; a quorum queue sets its own on the copy's redeliveries.
    delete headers['x-delivery-count'];
    headers[EXCHANGE_HEADER] = meta.exchange;
    headers[ROUTING_KEY_HEADER] = meta.routingKey;
    // RabbitMQ hands the copy to a consumer before it confirms it (a classic queue confirms a persistent message once
    // it is on disk), so this very consumer can receive the copy before the original's ack has even been sent. The
    // copy is held back until RabbitMQ has applied that ack: a crash can then never leave both the original and a
    // copy that a handler already ran.
    const copy = randomUUID();
    headers[COPY_HEADER] = copy;
    this.#held.set(copy, []);
    // Every property kept but userId, which RabbitMQ checks against this connection's user (a copy would be refused).
    const options: Options.Publish = { ...properties, userId: undefined, headers };
    try {
      await this.#publish(generation, meta.queue, delivery.body, options);
    } catch (error) {
      this.#log(
        'warn',
        `could not publish nacked message ${delivery.id ?? '(no id)'} again (${describe(error)}); requeued as is`,
        {
          queue: meta.queue,
        },
      );
      this.#settle([delivery], 'nack');
      this.#release(copy);
      return;
    }
    // At once, not after `ackLingerMs`: until this ack is applied, a crash leaves the message twice in the queue.
    const acked = this.ackConfirmed([delivery]);
    this.#flushAcks(generation);
    await acked;
    this.#release(copy);
  }

  /** Hands over the copy `copy` if it was held back (a lost channel drops it: RabbitMQ delivers it again). */
  #release(copy: string): void {
    const held = this.#held.get(copy);
    this.#held.delete(copy);
    for (const delivery of held ?? []) {
      if ((delivery.handle as AmqpHandle).generation.alive) this.#batches!.add(delivery);
    }
  }

  /** Cancels the consumers; the stream ends once RabbitMQ confirms, after what they delivered until then. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.#wake?.();
      // Nacked messages still pausing go back at once: shutting down must not wait out their pauses.
      const pausing = [...this.#pausing];
      this.#pausing.clear();
      for (const [timer] of pausing) clearTimeout(timer);
      this.#settle(
        pausing.map(([, delivery]) => delivery),
        'nack',
      );
      await this.#reconnecting;
      const generation = this.#current;
      if (generation?.alive) {
        await Promise.all(generation.consumerTags.map((tag) => generation.channel.cancel(tag).catch(() => {})));
      }
      this.#batches?.end();
    })();
    return this.#stopped;
  }

  /** Stops, then closes the channel and the connection: RabbitMQ requeues whatever is still unacked. */
  async close(): Promise<void> {
    await this.stop();
    this.#closing = true;
    // Copies under way are acked (or requeued) on the consumer channel, which must still be open for that.
    await Promise.all(this.#requeuing);
    const generation = this.#current;
    this.#current = undefined;
    if (!generation) return;
    const wasAlive = generation.alive;
    if (wasAlive) {
      this.#flushAcks(generation);
      // Acks still waiting for their barrier would count as lost once the channel is marked dead.
      while (generation.alive && generation.barrier) await generation.barrier;
      this.#bury(generation);
    }
    // amqplib queues frames per channel and interleaves the queues on the socket, so a connection close (channel 0)
    // can overtake acks still queued on the consumer channel, and RabbitMQ would requeue those messages. A channel
    // close goes behind them in the same queue, and waits for RabbitMQ's answer.
    if (wasAlive) await generation.channel.close().catch(() => {});
    if (generation.publisher) await (await generation.publisher.catch(() => undefined))?.close().catch(() => {});
    await generation.model.close().catch(() => {});
  }

  /** One connection attempt: connect, declare, consume. Anything that fails closes the connection again. */
  async #establish(): Promise<Generation> {
    const model = await connect(this.#url, {
      clientProperties: { connection_name: this.connectionName },
      timeout: this.#retry.connectTimeoutMs,
    });
    let lastError: unknown;
    // Without listeners, an 'error' event would crash the process; the 'close' that follows reports it.
    model.on('error', (error: unknown) => (lastError = error));
    model.on('blocked', (reason: string) =>
      this.#log(
        'warn',
        `RabbitMQ at ${this.#safeUrl} blocked the connection (${reason}); replies wait until it unblocks`,
      ),
    );
    let generation: Generation | undefined;
    try {
      const channel = await model.createChannel();
      channel.on('error', (error: unknown) => (lastError = error));
      await declareTopology(channel, this.#topology, this.#safeUrl);
      await channel.prefetch(this.#prefetch);
      const current: Generation = {
        number: ++this.#generations,
        model,
        channel,
        tags: new DeliveryTags(),
        consumerTags: [],
        alive: true,
        acks: [],
        unsent: [],
        unconfirmed: [],
        confirming: new Set(),
      };
      generation = current;
      model.on('close', (error?: Error) => this.#lost(current, error ?? lastError ?? 'the connection closed'));
      channel.on('close', () => this.#lost(current, lastError ?? 'the channel closed'));
      for (const queue of this.queues) {
        const source = `amqp:${queue}`;
        const { consumerTag } = await channel.consume(queue, (message) =>
          this.#receive(current, queue, source, message),
        );
        current.consumerTags.push(consumerTag);
      }
      if (!current.alive) throw lastError ?? new Error('the connection closed while consuming started');
      return current;
    } catch (error) {
      if (generation) this.#bury(generation);
      await model.close().catch(() => {});
      throw error;
    }
  }

  #receive(generation: Generation, queue: string, source: string, message: ConsumeMessage | null): void {
    if (message === null) {
      // RabbitMQ cancels a consumer whose queue was deleted: start over, which declares (or checks) it again.
      this.#log('warn', `RabbitMQ cancelled the consumer of the queue "${queue}" (was it deleted?); reconnecting`);
      void generation.model.close().catch(() => {});
      return;
    }
    if (!generation.alive) return;
    const tag = message.fields.deliveryTag;
    generation.tags.add(tag);
    const delivery = this.#delivery(generation, queue, source, message, tag);
    const copy: unknown = (message.properties.headers as Record<string, unknown> | undefined)?.[COPY_HEADER];
    const held = typeof copy === 'string' ? this.#held.get(copy) : undefined;
    if (held) held.push(delivery);
    else this.#batches!.add(delivery);
  }

  #delivery(generation: Generation, queue: string, source: string, message: ConsumeMessage, tag: number): Delivery {
    const { properties, content } = message;
    const meta = this.#metas.of(source, queue, message);
    const handle: AmqpHandle = { generation, tag, properties };
    const id =
      typeof properties.messageId === 'string' && properties.messageId !== '' ? properties.messageId : undefined;
    if (content.length > this.#maxMessageBytes) {
      return tooLarge(
        { body: content, id, meta, handle },
        `a message on the queue "${queue}"`,
        content.length,
        this.#maxMessageBytes,
      );
    }
    return { body: content, id, meta, handle };
  }

  /** Per channel of `deliveries`, a confirmation of how many of their acks RabbitMQ takes; a lost channel takes none. */
  #receipts(deliveries: readonly Delivery[]): Promise<number>[] {
    const receipts: Promise<number>[] = [];
    const lingers = this.#ackLingerMs > 0;
    for (let i = 0; i < deliveries.length;) {
      const { generation } = deliveries[i]!.handle as AmqpHandle;
      const first = i;
      while (i < deliveries.length && (deliveries[i]!.handle as AmqpHandle).generation === generation) i++;
      const count = i - first;
      if (!generation.alive) receipts.push(Promise.resolve(0));
      else
        receipts.push(
          new Promise((resolve) => (lingers ? generation.unsent : generation.unconfirmed).push({ count, resolve })),
        );
    }
    return receipts;
  }

  #settle(deliveries: readonly Delivery[], kind: 'ack' | 'nack'): void {
    const linger = kind === 'ack' && this.#ackLingerMs > 0;
    let i = 0;
    // Deliveries of one call nearly always share a channel; a reconnect in between splits them into runs.
    while (i < deliveries.length) {
      const { generation } = deliveries[i]!.handle as AmqpHandle;
      // Acks that wait go straight onto the channel's queue. They still count as unsettled in `generation.tags`
      // meanwhile, so a nack sent before them never covers them.
      const waits = linger && generation.alive;
      const tags = waits ? generation.acks : [];
      for (; i < deliveries.length; i++) {
        const handle = deliveries[i]!.handle as AmqpHandle;
        if (handle.generation !== generation) break;
        tags.push(handle.tag);
      }
      if (waits) {
        if (generation.acks.length >= this.#ackBatch) this.#flushAcks(generation);
        else generation.ackTimer ??= setTimeout(() => this.#flushAcks(generation), this.#ackLingerMs);
      } else if (generation.alive) {
        this.#send(generation, tags, kind);
        this.#confirm(generation);
      } else {
        this.#logDropped(generation, tags.length, kind);
      }
    }
  }

  #flushAcks(generation: Generation): void {
    clearTimeout(generation.ackTimer);
    generation.ackTimer = undefined;
    if (generation.acks.length === 0) return;
    const tags = generation.acks;
    generation.acks = [];
    if (!generation.alive) {
      this.#logDropped(generation, tags.length, 'ack');
      return;
    }
    this.#send(generation, tags, 'ack');
    if (generation.unsent.length > 0) {
      generation.unconfirmed.push(...generation.unsent);
      generation.unsent = [];
      this.#confirm(generation);
    }
  }

  /**
   * Asks RabbitMQ for a round trip behind the acks sent so far, unless one is under way (the next covers what was
   * sent meanwhile); its answer confirms them. A channel lost first confirms none of them (see `#bury`).
   */
  #confirm(generation: Generation): void {
    if (generation.barrier || generation.unconfirmed.length === 0 || !generation.alive) return;
    const covered = generation.unconfirmed;
    generation.unconfirmed = [];
    for (const receipt of covered) generation.confirming.add(receipt);
    generation.barrier = roundTrip(generation.channel, this.#prefetch).then(
      () => {
        generation.barrier = undefined;
        for (const receipt of covered) {
          generation.confirming.delete(receipt);
          receipt.resolve(receipt.count);
        }
        this.#confirm(generation);
      },
      () => {
        // The channel failed: its 'close' buries the generation, which settles what this barrier covered.
        generation.barrier = undefined;
      },
    );
  }

  #send(generation: Generation, tags: number[], kind: 'ack' | 'nack'): void {
    const { channel } = generation;
    const send =
      kind === 'ack'
        ? (tag: number, multiple: boolean) => channel.ack(tagOnly(tag), multiple)
        : (tag: number, multiple: boolean) => channel.nack(tagOnly(tag), multiple, true);
    try {
      const skipped = generation.tags.settle(tags, send);
      if (skipped > 0) {
        this.#log('warn', `ignored ${skipped} ${kind}${skipped === 1 ? '' : 's'} of messages already settled`, {
          queues: this.queues,
        });
      }
    } catch (error) {
      // The channel closed under us: its 'close' event marks the generation dead; RabbitMQ requeues the messages.
      this.#log('warn', `could not ${kind} ${tags.length} messages: ${describe(error)}; RabbitMQ delivers them again`);
    }
  }

  #logDropped(generation: Generation, count: number, kind: 'ack' | 'nack'): void {
    this.#log(
      'warn',
      `dropped ${count} ${kind}${count === 1 ? '' : 's'} for messages of a lost RabbitMQ channel; ` +
        'RabbitMQ has requeued them and delivers them again',
      { queues: this.queues, generation: generation.number },
    );
  }

  /** Deliveries the stream could not take (it ended first): requeued at once. */
  #giveBack(deliveries: Delivery[]): void {
    this.#settle(deliveries, 'nack');
  }

  #lost(generation: Generation, why: unknown): void {
    if (!generation.alive) return;
    this.#bury(generation);
    if (generation !== this.#current) return;
    this.#current = undefined;
    // A channel lost alone takes its connection along: one way back for both.
    void generation.model.close().catch(() => {});
    if (this.#closing) return;
    if (this.#stopping) {
      this.#batches?.end();
      return;
    }
    this.#log('warn', `lost the connection to RabbitMQ at ${this.#safeUrl} (${describe(why)}); reconnecting`, {
      connection: this.connectionName,
      unacked: generation.tags.size,
    });
    this.#reconnecting = this.#reconnect().finally(() => (this.#reconnecting = undefined));
  }

  /** Marks a generation dead: its queued deliveries are dropped, and RabbitMQ delivers them again. */
  #bury(generation: Generation): void {
    generation.alive = false;
    clearTimeout(generation.ackTimer);
    generation.ackTimer = undefined;
    if (generation.acks.length > 0) this.#logDropped(generation, generation.acks.length, 'ack');
    generation.acks = [];
    // Acks never sent did not reach RabbitMQ: it requeued those messages and delivers them again.
    for (const receipt of generation.unsent.splice(0)) receipt.resolve(0);
    // Acks sent and not confirmed may or may not have been applied: RabbitMQ answers a round trip after the frame
    // that closes the connection, and discards what arrives after that. They count as not taken, so `acked` never
    // says more than RabbitMQ applied; the ones it did apply are not delivered again.
    const unconfirmed = [...generation.unconfirmed.splice(0), ...generation.confirming];
    generation.confirming.clear();
    let inDoubt = 0;
    for (const receipt of unconfirmed) {
      inDoubt += receipt.count;
      receipt.resolve(0);
    }
    if (inDoubt > 0) {
      this.#log(
        'warn',
        `${inDoubt} ack${inDoubt === 1 ? '' : 's'} sent just before the RabbitMQ channel was lost could not be confirmed; ` +
          'counted as requeued by the broker, though RabbitMQ may have applied some (those are not delivered again)',
        { queues: this.queues, generation: generation.number, unconfirmedAcks: inDoubt },
      );
    }
    this.#frames += generation.tags.frames;
    this.#batches?.discard((delivery) => (delivery.handle as AmqpHandle).generation === generation);
  }

  async #reconnect(): Promise<void> {
    let why = '';
    for (let attempt = 1; ; attempt++) {
      const delay = Math.round(backoffDelay(this.#retry.reconnectBackoff, attempt));
      this.#log('warn', `reconnecting to RabbitMQ at ${this.#safeUrl} in ${delay} ms (attempt ${attempt})${why}`, {
        connection: this.connectionName,
        attempt,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      if (this.#stopping || this.#closing) return;
      try {
        const generation = await this.#establish();
        if (this.#stopping || this.#closing) {
          this.#bury(generation);
          await generation.model.close().catch(() => {});
          return;
        }
        this.#current = generation;
        this.#reconnects++;
        this.#log('info', `reconnected to RabbitMQ at ${this.#safeUrl}; consuming again`, {
          connection: this.connectionName,
          attempt,
        });
        return;
      } catch (error) {
        why = `; the last attempt failed: ${describe(error)}`;
        if (attempt >= this.#retry.reconnectAttempts) {
          this.#batches?.fail(
            new TransportError(
              `lost the connection to RabbitMQ at ${this.#safeUrl} and could not reconnect after ${attempt} attempts ` +
                `(${describe(error)}); check that RabbitMQ is running and that the queues can be declared`,
              { cause: error },
            ),
          );
          return;
        }
      }
    }
  }

  /** The live generation, waiting for a reconnect under way. */
  async #ready(): Promise<Generation> {
    for (;;) {
      const generation = this.#current;
      if (generation?.alive) return generation;
      if (!this.#reconnecting || this.#closing) {
        throw new TransportError(`not connected to RabbitMQ at ${this.#safeUrl}: the adapter is not open, or stopped`);
      }
      await this.#reconnecting;
    }
  }

  async #openPublisher(generation: Generation): Promise<ConfirmChannel> {
    const channel = await generation.model.createConfirmChannel();
    channel.on('error', (error: unknown) =>
      this.#log('warn', `the RabbitMQ publishing channel failed: ${describe(error)}`, {
        connection: this.connectionName,
      }),
    );
    // A publishing channel that dies alone (a publish the broker refused) is opened again for the next publish.
    channel.on('close', () => {
      if (generation.publisher) generation.publisher = undefined;
    });
    return channel;
  }
}

/** amqplib reads only the delivery tag of the message it is given to settle. */
function tagOnly(deliveryTag: number): Message {
  return { fields: { deliveryTag } } as unknown as Message;
}
