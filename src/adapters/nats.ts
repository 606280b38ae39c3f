// Imports only what the package root and `missive-node/adapters` export (see nats-options.ts). The `nats` client is
// imported for its types only and loaded with `await import('nats')` in `open()`, so that a CLI run on another
// adapter never loads it.
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import type { Consumer, ConsumerMessages, JsMsg, MsgHdrs, NatsConnection } from 'nats';
import { NO_HEADERS, type Delivery, type DeliveryMeta } from '../delivery.js';
import { InvalidOptionError, TransportError, describe } from '../errors.js';
import { Reasons } from '../outcome.js';
import { backoffDelay } from '../retry.js';
import { tooLarge } from '../too-large.js';
import type { Adapter, AdapterOpenOptions, AckKind, DeliveryLimit } from './adapter.js';
import { redactUrl } from './broker-url.js';
import { resolveNatsOptions, type NatsAdapterOptions, type ResolvedNatsOptions } from './nats-options.js';
import { ensureNatsTopology } from './nats-topology.js';
import { TickBatches } from './tick-batches.js';

export type { NatsAdapterOptions } from './nats-options.js';

/** Dead-letter reason of a message delivered more than `maxDeliveries` times. */
export const NATS_TOO_MANY_DELIVERIES = Reasons.tooManyDeliveries;

/** Transport metadata of a JetStream delivery, as `ctx.delivery` shows it. */
export interface NatsDeliveryMeta extends DeliveryMeta {
  /** `nats:<stream>`. */
  readonly source: string;
  readonly stream: string;
  /** The durable consumer that delivered it. */
  readonly consumer: string;
  /** The subject it was published on. */
  readonly subject: string;
  /** Its sequence number in the stream (also the delivery's `id`). */
  readonly streamSequence: number;
  /** Deliveries so far, this one included (the server's count, across every process sharing the consumer). */
  readonly deliveryCount: number;
  /** Whether it was delivered before (`deliveryCount` above 1). */
  readonly redelivered: boolean;
  /** When it was stored in the stream, in ms since the epoch. */
  readonly timestampMs: number;
  /** Its NATS headers; a header given several times has all its values, in order. */
  readonly headers: Readonly<Record<string, string | string[]>>;
}

/** Most messages one pull request asks for, whatever the in-flight cap: a reply stays a few hundred kB. */
const MAX_PULL = 1000;
/** Pull requests that fail in a row (the consumer was deleted, JetStream went away) before the stream fails. */
const MAX_PULL_FAILURES = 10;

/**
 * Consumes a NATS JetStream stream through a durable pull consumer, at least once: a message is done with only
 * when it is acked. At open it creates the stream (from `subjects`) and the consumer when missing, unless `passive`.
 *
 * Messages are pulled, never pushed: each pull request asks for what the in-flight cap has room for (waiting until
 * half the cap is free, so requests stay large), so the messages fetched and not settled never exceed
 * `maxInFlight`. `ack` acks (`+ACK`); a dead letter is terminated (`+TERM`) once stored, so the server gives up on
 * it; `nack` asks for redelivery (`-NAK`, after `nakDelayMs`). A message delivered more than `maxDeliveries` times
 * becomes a dead letter `too many deliveries` in the pipeline (`deliveryLimit`), and is terminated. A message
 * fetched by a process that dies before settling it is delivered again after the consumer's `ack_wait`, to whichever
 * process shares the consumer.
 *
 * `stop()` closes the pull request under way, which the server then drops, and gives back at once (`-NAK`) what it
 * had already brought, so nothing waits out an `ack_wait` on the way down (except a message the server sent in the
 * instant the request was closed). The client reconnects by itself; a pull that fails is retried with backoff, and
 * the stream fails after {@link MAX_PULL_FAILURES} in a row.
 */
export class NatsAdapter implements Adapter<NatsConnection> {
  /** @inheritdoc */
  readonly name = 'nats';
  /** @inheritdoc */
  readonly canRequeue = true;
  /** @inheritdoc */
  readonly deliveryLimit: DeliveryLimit;
  /** The stream consumed. */
  readonly stream: string;
  /** The durable consumer's name. */
  readonly consumer: string;
  readonly #options: ResolvedNatsOptions;
  readonly #safeUrl: string;
  readonly #source: string;
  #connection: NatsConnection | undefined;
  #batches: TickBatches | undefined;
  #cap = MAX_PULL;
  /** Messages fetched and not yet acked, terminated or nacked. */
  #unsettled = 0;
  #roomFreed: (() => void) | undefined;
  /** The pull request under way. */
  #fetching: ConsumerMessages | undefined;
  #stopping = false;
  #closing = false;
  #pulled: Promise<void> = Promise.resolve();
  /** One flush (PING/PONG) per turn of the event loop tells every ack of that turn that the server has it. */
  #flush: Promise<void> | undefined;

  /** @param options The stream, and how to consume it; see {@link NatsAdapterOptions}. */
  constructor(options: NatsAdapterOptions) {
    this.#options = resolveNatsOptions(options);
    this.stream = this.#options.stream;
    this.consumer = this.#options.consumer;
    this.#safeUrl = redactUrl(this.#options.url);
    this.#source = `nats:${this.stream}`;
    this.deliveryLimit = { maxDeliveries: this.#options.maxDeliveries, option: '--max-deliveries' };
  }

  /** The NATS connection, for what only NATS can do (publish, request); undefined until `open()`. */
  get client(): NatsConnection | undefined {
    return this.#connection;
  }

  /**
   * Connects (retrying with backoff), creates the stream and the consumer when missing, and starts pulling.
   * Fails with a `TransportError` naming the URL (never its password) when the server cannot be reached, has no
   * JetStream, or the stream or consumer cannot be used.
   */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#connection) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#cap = Math.max(1, options?.maxInFlight ?? MAX_PULL);
    let nats: typeof import('nats');
    try {
      nats = await import('nats');
    } catch (error) {
      throw new TransportError(`--adapter nats needs the nats package: npm install nats (${describe(error)})`, {
        cause: error,
      });
    }
    const connection = await this.#connect(nats);
    this.#connection = connection;
    let consumer: Consumer;
    try {
      const jsm = await connection.jetstreamManager();
      await ensureNatsTopology(jsm, this.#options, this.#safeUrl);
      consumer = await connection.jetstream().consumers.get(this.stream, this.consumer);
    } catch (error) {
      this.#connection = undefined;
      await connection.close().catch(() => {});
      if (error instanceof TransportError) throw error;
      throw new TransportError(
        `cannot use JetStream at ${this.#safeUrl}: ${describe(error)}; is the server started with -js?`,
        {
          cause: error,
        },
      );
    }
    const batches = new TickBatches((unwanted) => this.#giveBack(unwanted));
    this.#batches = batches;
    void this.#watch(connection);
    this.#pulled = this.#pull(consumer);
    return batches.readable;
  }

  /** Acks handled messages; terminates dead-lettered ones (stored already), so the server stops delivering them. */
  ack(deliveries: readonly Delivery[], kind: AckKind): Promise<void> {
    const terminate = kind === 'dead-lettered';
    return this.#settle(deliveries, (message) => (terminate ? message.term() : message.ack()));
  }

  /** Asks the server to deliver these again, after `nakDelayMs`. */
  nack(deliveries: readonly Delivery[]): Promise<void> {
    const delay = this.#options.nakDelayMs;
    return this.#settle(deliveries, (message) => message.nak(delay > 0 ? delay : undefined));
  }

  /**
   * Closes the pull request under way (the server drops a request nobody listens to any more) and ends the stream;
   * what that request had already brought is given back at once.
   */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeRoom();
    void this.#fetching?.close();
    return this.#pulled;
  }

  /**
   * Stops, sends every settle still buffered, and closes the connection. Messages read and never settled stay
   * with the consumer and are delivered again after its `ack_wait`.
   */
  async close(): Promise<void> {
    await this.stop();
    this.#closing = true;
    const connection = this.#connection;
    if (!connection || connection.isClosed()) return;
    // drain() flushes what is buffered (acks included) before it closes.
    await connection.drain().catch(() => connection.close());
  }

  async #connect(nats: typeof import('nats')): Promise<NatsConnection> {
    const { connectAttempts, connectBackoff } = this.#options;
    const url = new URL(this.#options.url);
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    const port = url.port || '4222';
    const connectOptions = {
      servers: `${url.hostname}:${port}`,
      ...(pass ? { user, pass } : user ? { token: user } : {}),
      ...(url.protocol === 'tls:' ? { tls: {} } : {}),
      name: this.#options.connectionName ?? `missive:${hostname()}-${process.pid}`,
      // Once connected, the client reconnects by itself, for as long as it takes; pulls resume after.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: 10_000,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return await nats.connect(connectOptions);
      } catch (error) {
        const permanent = /authorization|authentication|permissions/i.test(describe(error));
        if (permanent || attempt >= connectAttempts) {
          throw new TransportError(
            `cannot connect to NATS at ${this.#safeUrl} after ${attempt} attempt${attempt === 1 ? '' : 's'}: ` +
              `${describe(error)}; check that nats-server is running there (with -js for JetStream) and the credentials`,
            { cause: error },
          );
        }
        const delay = Math.round(backoffDelay(connectBackoff, attempt));
        this.#options.log(
          'warn',
          `cannot connect to NATS at ${this.#safeUrl} (${describe(error)}); retrying in ${delay} ms`,
          {
            attempt,
          },
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Reports reconnects, and fails the stream when the connection closes for good while in use. */
  async #watch(connection: NatsConnection): Promise<void> {
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') {
          this.#options.log('warn', `lost the connection to NATS at ${this.#safeUrl}; reconnecting`, {
            unsettled: this.#unsettled,
          });
        } else if (status.type === 'reconnect') {
          this.#options.log('info', `reconnected to NATS at ${this.#safeUrl}; pulling again`);
        }
      }
    })().catch(() => {});
    const error = await connection.closed();
    if (this.#closing) return;
    this.#stopping = true;
    this.#wakeRoom();
    this.#batches?.fail(
      new TransportError(`the connection to NATS at ${this.#safeUrl} closed${error ? `: ${describe(error)}` : ''}`, {
        cause: error,
      }),
    );
  }

  /** Pull requests, one after another, each asking for what the cap has room for, until stopped. */
  async #pull(consumer: Consumer): Promise<void> {
    const batches = this.#batches!;
    let failures = 0;
    while (!this.#stopping) {
      const room = this.#cap - this.#unsettled;
      if (room < Math.ceil(this.#cap / 2)) {
        await new Promise<void>((resolve) => (this.#roomFreed = resolve));
        continue;
      }
      try {
        const messages = await consumer.fetch({
          max_messages: Math.min(room, MAX_PULL),
          expires: this.#options.fetchWaitMs,
        });
        this.#fetching = messages;
        if (this.#stopping) void messages.close();
        for await (const message of messages) this.#receive(message);
        failures = 0;
      } catch (error) {
        if (this.#stopping) break;
        failures++;
        if (failures >= MAX_PULL_FAILURES) {
          batches.fail(
            new TransportError(
              `pulling from the consumer "${this.consumer}" of the stream "${this.stream}" at ${this.#safeUrl} failed ` +
                `${failures} times in a row: ${describe(error)}; check that both still exist`,
              { cause: error },
            ),
          );
          return;
        }
        const delay = Math.round(backoffDelay({ initialMs: 200, maxMs: 5000 }, failures));
        this.#options.log(
          'warn',
          `pulling from the stream "${this.stream}" failed (${describe(error)}); trying again in ${delay} ms`,
          {
            consumer: this.consumer,
            attempt: failures,
          },
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      } finally {
        this.#fetching = undefined;
      }
    }
    batches.end();
  }

  #receive(message: JsMsg): void {
    // Stopping, or past the cap (a pull re-sent after a reconnect can bring more than asked): back at once.
    if (this.#stopping || this.#unsettled >= this.#cap || this.#batches!.ended) {
      message.nak();
      return;
    }
    this.#unsettled++;
    this.#batches!.add(this.#delivery(message));
  }

  #delivery(message: JsMsg): Delivery {
    const info = message.info;
    const body = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
    const id = String(info.streamSequence);
    const meta: NatsDeliveryMeta = {
      source: this.#source,
      stream: info.stream,
      consumer: info.consumer,
      subject: message.subject,
      streamSequence: info.streamSequence,
      deliveryCount: info.deliveryCount,
      redelivered: info.deliveryCount > 1,
      timestampMs: Math.floor(info.timestampNanos / 1_000_000),
      headers: message.headers ? headersOf(message.headers) : NO_HEADERS,
    };
    const delivery: Delivery = { body, id, meta, handle: message };
    const { maxMessageBytes } = this.#options;
    if (body.length > maxMessageBytes) {
      return tooLarge(delivery, `message ${id} of the stream "${this.stream}"`, body.length, maxMessageBytes);
    }
    return delivery;
  }

  #settle(deliveries: readonly Delivery[], send: (message: JsMsg) => void): Promise<void> {
    let failure: unknown;
    for (const delivery of deliveries) {
      try {
        send(delivery.handle as JsMsg);
      } catch (error) {
        // The connection is closed: the server delivers the message again after ack_wait.
        failure ??= error;
      }
    }
    this.#unsettled = Math.max(0, this.#unsettled - deliveries.length);
    this.#wakeRoom();
    if (failure !== undefined) {
      return Promise.reject(
        new TransportError(`could not settle ${deliveries.length} NATS messages: ${describe(failure)}`, {
          cause: failure,
        }),
      );
    }
    return this.#flushed();
  }

  /** Resolves once the server has read everything sent so far (one PING/PONG shared by a turn's settles). */
  #flushed(): Promise<void> {
    const connection = this.#connection;
    if (!connection || connection.isClosed()) return Promise.resolve();
    this.#flush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#flush = undefined;
      return connection.flush();
    });
    return this.#flush;
  }

  #wakeRoom(): void {
    const wake = this.#roomFreed;
    this.#roomFreed = undefined;
    wake?.();
  }

  /** Deliveries the stream could not take (it ended first): given back at once. */
  #giveBack(deliveries: Delivery[]): void {
    void this.nack(deliveries).catch(() => {});
  }
}

function headersOf(headers: MsgHdrs): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of headers.keys()) {
    const values = headers.values(key);
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}
