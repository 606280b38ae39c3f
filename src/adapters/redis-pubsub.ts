import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Delivery, DeliveryMeta } from '../delivery.js';
import { InvalidOptionError, TransportError, describe } from '../errors.js';
import type { Adapter, AdapterOpenOptions } from './adapter.js';
import { resolveMaxMessageBytes } from './lines.js';
import { tooLarge } from '../too-large.js';
import {
  DEFAULT_REDIS_URL,
  assertRedisUrl,
  closeRedis,
  connectRedis,
  redactRedisUrl,
  type RedisLog,
  type RedisRetryOptions,
} from './redis-connection.js';
import { wholeNumberOption } from '../options.js';

/** Options of a {@link RedisPubSubAdapter}. Only `channels` is required. */
export interface RedisPubSubAdapterOptions extends RedisRetryOptions {
  /** The server, `redis://[user:password@]host:port[/db]`. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** Channels to subscribe to; one containing `*`, `?` or `[` is a pattern (PSUBSCRIBE). */
  readonly channels: readonly string[];
  /**
   * Most messages held while the consumer is not reading. Past it, arriving messages are dropped and counted
   * (see {@link RedisPubSubAdapter}). Default 10000.
   */
  readonly maxBuffered?: number;
  /** Larger bodies become dead letters `message too large` (their first bytes kept). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** Where drops and connection trouble are reported. Default: nowhere. */
  readonly log?: RedisLog;
}

/** Most messages in one batch of the stream. */
const MAX_BATCH = 1000;
/** Distinct (pattern, channel) pairs whose meta object is kept for reuse; patterns can match unboundedly many. */
const META_CACHE_SIZE = 1024;
/** At most one "dropped" log line per this many ms while the buffer stays full. */
const DROP_LOG_EVERY_MS = 1000;
/** {@link RedisPubSubAdapter.droppedByReason}: arrived while `maxBuffered` messages were held. */
export const DROPPED_BUFFER_FULL = 'buffer full';
/** {@link RedisPubSubAdapter.droppedByReason}: held when the consumer stopped reading. */
export const DROPPED_AT_STOP = 'held at stop';

/** Whether a `--channel` value is a pattern, subscribed with PSUBSCRIBE. */
export function isChannelPattern(channel: string): boolean {
  return /[*?[]/.test(channel);
}

/**
 * Subscribes to Redis Pub/Sub channels and patterns: **at most once**. Redis delivers a published message only to
 * the clients subscribed at that moment and keeps no copy, so nothing can be acked (ack is a no-op) or redelivered
 * (`canRequeue` is false: the pipeline stores a nacked message as a dead letter), and messages published while no
 * subscriber runs are gone.
 *
 * Pub/Sub cannot push back on publishers either. Messages that arrive while the consumer is not reading are held
 * up to `maxBuffered`; past that bound new messages are **dropped**, counted in {@link dropped}, and reported by a
 * `warn` log line at most once a second. Messages still held when the consumer stops reading (a run stopping takes
 * no new messages) are dropped too, counted and logged; {@link droppedByReason} tells the two apart. Dropping was chosen over unsubscribing while full because an unsubscribed
 * client loses the same messages, later and less visibly, and Redis would otherwise cut a slow subscriber off at
 * its `client-output-buffer-limit pubsub` anyway. A message matching both a channel and a pattern arrives twice,
 * as Redis sends it twice.
 *
 * `meta` is `{ source: 'redis-pubsub:<channel>', channel, pattern? }`; messages have no transport id.
 */
export class RedisPubSubAdapter implements Adapter<Redis> {
  /** @inheritdoc */
  readonly name = 'redis-pubsub';
  /** @inheritdoc */
  readonly canRequeue = false;
  /** Exact channel names, subscribed with SUBSCRIBE. */
  readonly channels: readonly string[];
  /** Patterns, subscribed with PSUBSCRIBE. */
  readonly patterns: readonly string[];
  readonly #url: string;
  readonly #maxBuffered: number;
  readonly #maxMessageBytes: number;
  readonly #retry: RedisRetryOptions;
  readonly #log: RedisLog;
  #subscriber: Redis | undefined;
  #readable: Readable | undefined;
  #buffer: Delivery[] = [];
  readonly #metas = new Map<string, DeliveryMeta>();
  #wanted = false;
  #flushScheduled = false;
  #stopping = false;
  /** Set once unsubscribed: whatever is buffered then is the last of it. */
  #ending = false;
  #dropped = 0;
  #droppedAtStop = 0;
  /** Messages of the batch last handed over, until the consumer reads it (it asks for more only then). */
  #unread = 0;
  #droppedUnreported = 0;
  #lastDropLog = 0;

  /** @param options The channels and patterns, and the buffer bound; see {@link RedisPubSubAdapterOptions}. */
  constructor(options: RedisPubSubAdapterOptions) {
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    assertRedisUrl(this.#url);
    const names = [...new Set(options.channels)];
    if (names.length === 0 || names.includes('')) {
      throw new InvalidOptionError('give at least one channel or pattern to subscribe to (--channel), none empty');
    }
    this.channels = names.filter((name) => !isChannelPattern(name));
    this.patterns = names.filter(isChannelPattern);
    this.#maxBuffered = wholeNumberOption('maxBuffered', options.maxBuffered ?? 10_000, 1);
    this.#maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#retry = options;
    this.#log = options.log ?? (() => {});
  }

  /** The subscriber connection; undefined until `open()`. It is in subscriber mode: only (un)subscribe commands work. */
  get client(): Redis | undefined {
    return this.#subscriber;
  }

  /** Messages dropped so far because the buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Messages taken from Redis and never handed over: `buffer full` ({@link dropped}), and `held at stop`, those
   * held when the consumer stopped reading. The run reports them in its summary and `--stats-file`.
   */
  get droppedByReason(): Readonly<Record<string, number>> {
    const counts: Record<string, number> = {};
    if (this.#dropped > 0) counts[DROPPED_BUFFER_FULL] = this.#dropped;
    if (this.#droppedAtStop > 0) counts[DROPPED_AT_STOP] = this.#droppedAtStop;
    return counts;
  }

  /** Messages held, waiting for the consumer to read them. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Connects (retrying, see {@link connectRedis}) and subscribes; messages are taken from then on. */
  async open(_options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#subscriber) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    const subscriber = await connectRedis(this.#url, {
      ...this.#retry,
      log: this.#log,
      connectionName: 'missive:pubsub',
    });
    this.#subscriber = subscriber;
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(message, channel, undefined));
    subscriber.on('pmessageBuffer', (pattern: Buffer | string, channel: Buffer, message: Buffer) =>
      this.#receive(message, channel, String(pattern)),
    );
    this.#readable = new Readable({
      objectMode: true,
      highWaterMark: 1,
      read: () => {
        this.#unread = 0;
        this.#wanted = true;
        this.#flush();
      },
    });
    this.#readable.once('close', () => this.#dropLeftovers());
    try {
      if (this.channels.length > 0) await subscriber.subscribe(...this.channels);
      if (this.patterns.length > 0) await subscriber.psubscribe(...this.patterns);
    } catch (error) {
      await closeRedis(subscriber);
      throw new TransportError(
        `cannot subscribe to ${[...this.channels, ...this.patterns].join(', ')} at ${redactRedisUrl(this.#url)}: ` +
          `${describe(error)}; check the channel names and the user's permissions`,
        { cause: error },
      );
    }
    return this.#readable;
  }

  /** No-op: Pub/Sub has nothing to acknowledge. */
  ack(): void {}

  /** No-op: never called, as Pub/Sub cannot redeliver (the pipeline dead-letters a nacked message instead). */
  nack(): void {}

  /**
   * Unsubscribes, then ends the stream after the messages already held; those the consumer does not read (a run
   * that stops reads nothing more) are counted as dropped `held at stop` when the stream closes.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const subscriber = this.#subscriber;
    if (subscriber && subscriber.status === 'ready') {
      await Promise.all([
        this.channels.length > 0 ? subscriber.unsubscribe(...this.channels) : undefined,
        this.patterns.length > 0 ? subscriber.punsubscribe(...this.patterns) : undefined,
      ]).catch(() => {});
    }
    this.#ending = true;
    this.#reportDrops(true);
    if (this.#readable?.destroyed) this.#dropLeftovers();
    else this.#flush();
  }

  /** Stops and closes the connection; messages held and not read by now are dropped (counted). */
  async close(): Promise<void> {
    await this.stop();
    this.#dropLeftovers();
    await closeRedis(this.#subscriber);
  }

  /** Messages of a batch the stopping run did not take: dropped `held at stop` like those still held here. */
  leftUnread(deliveries: readonly Delivery[]): void {
    this.#countHeldAtStop(deliveries.length);
  }

  /** Counts and logs the messages held or handed over and never read: Pub/Sub cannot deliver them again. */
  #dropLeftovers(): void {
    const lost = this.#unread + this.#buffer.length;
    this.#unread = 0;
    this.#buffer = [];
    this.#countHeldAtStop(lost);
  }

  #countHeldAtStop(lost: number): void {
    if (lost === 0) return;
    this.#droppedAtStop += lost;
    this.#log(
      'warn',
      `redis-pubsub: dropped ${lost} messages held when reading stopped; Pub/Sub cannot deliver them again`,
      {
        dropped: lost,
      },
    );
  }

  #receive(body: Buffer, channelBytes: Buffer, pattern: string | undefined): void {
    if (this.#ending) return;
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#dropped++;
      this.#droppedUnreported++;
      this.#reportDrops(false);
      return;
    }
    const channel = channelBytes.toString();
    const meta = this.#meta(channel, pattern);
    this.#buffer.push(
      body.length > this.#maxMessageBytes
        ? tooLarge({ body, meta }, `a message on ${channel}`, body.length, this.#maxMessageBytes)
        : { body, meta },
    );
    if (this.#wanted && !this.#flushScheduled) {
      // Messages of one socket read arrive in one synchronous burst: wait for the end of it to push one batch.
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  /** Hands over the next batch, or the end once stopping has emptied the buffer; only when the consumer asked. */
  #flush(): void {
    if (!this.#wanted || this.#readable!.destroyed) return;
    if (this.#buffer.length === 0) {
      if (!this.#ending) return;
      this.#wanted = false;
      this.#readable!.push(null);
      return;
    }
    this.#wanted = false;
    const batch = this.#buffer.length <= MAX_BATCH ? this.#buffer : this.#buffer.splice(0, MAX_BATCH);
    if (batch === this.#buffer) this.#buffer = [];
    this.#unread = batch.length;
    this.#readable!.push(batch);
  }

  #meta(channel: string, pattern: string | undefined): DeliveryMeta {
    const key = pattern === undefined ? channel : `${pattern}\u0000${channel}`;
    let meta = this.#metas.get(key);
    if (meta) return meta;
    if (this.#metas.size >= META_CACHE_SIZE) this.#metas.clear();
    meta = Object.freeze(
      pattern === undefined
        ? { source: `redis-pubsub:${channel}`, channel }
        : { source: `redis-pubsub:${channel}`, channel, pattern },
    );
    this.#metas.set(key, meta);
    return meta;
  }

  #reportDrops(final: boolean): void {
    if (this.#droppedUnreported === 0) return;
    const now = Date.now();
    if (!final && now - this.#lastDropLog < DROP_LOG_EVERY_MS) return;
    this.#lastDropLog = now;
    this.#log(
      'warn',
      `redis-pubsub: buffer full (${this.#maxBuffered} messages), dropped ${this.#droppedUnreported} messages; ` +
        'Pub/Sub is at most once and cannot slow publishers down: raise --max-buffered, make handlers faster, ' +
        'or use Redis Streams for at-least-once delivery',
      { dropped: this.#droppedUnreported, droppedTotal: this.#dropped },
    );
    this.#droppedUnreported = 0;
  }
}
