import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { ChainableCommander, Redis } from 'ioredis';
import { NO_HEADERS, type Delivery, type DeliveryMeta } from '../delivery.js';
import { InvalidOptionError, TransportError, describe } from '../errors.js';
import type { Adapter, AdapterOpenOptions, DeliveryLimit } from './adapter.js';
import { Reasons } from '../outcome.js';
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

/** Options of a {@link RedisStreamsAdapter}. Only `stream` is required. */
export interface RedisStreamsAdapterOptions extends RedisRetryOptions {
  /** The server, `redis://[user:password@]host:port[/db]`. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** The stream key to consume. */
  readonly stream: string;
  /** The consumer group, created (with the stream, MKSTREAM) at open when missing. Default `missive`. */
  readonly group?: string;
  /** This consumer's name in the group; keep it across restarts to resume its pending entries. Default `<hostname>-<pid>`. */
  readonly consumer?: string;
  /** The entry field holding the message body; the other fields become `meta.headers`. Default `body`. */
  readonly field?: string;
  /**
   * An entry pending this long (ms) without an ack is claimed again, from any consumer of the group, this one
   * included (that is how a nack is redelivered). Must exceed the longest handling time. Default 30000.
   */
  readonly claimIdleMs?: number;
  /** An entry delivered more times than this becomes a dead letter `too many deliveries`. Default 5. */
  readonly maxDeliveries?: number;
  /** How long one read waits for new entries (ms); also bounds how long `stop()` can take. Default 1000. */
  readonly blockMs?: number;
  /** Larger bodies become dead letters `message too large` (their first bytes kept). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** Where connection trouble is reported. Default: nowhere. */
  readonly log?: RedisLog;
}

/** Dead-letter reason of an entry without the body field. */
export const MISSING_FIELD_REASON = 'missing body field';
/** Dead-letter reason of an entry delivered more than `maxDeliveries` times. */
export const TOO_MANY_DELIVERIES_REASON = Reasons.tooManyDeliveries;

/** Most entries one read asks for, whatever the in-flight cap: a reply stays a few hundred kB at most. */
const MAX_COUNT = 1000;
/**
 * How long acks held back for the next read may wait for it. A backlog read of 1000 entries takes a few ms; a read
 * that instead waits for new entries (the backlog just ran out) must not hold acks for the whole BLOCK time.
 */
const ACK_LINGER_MS = 5;

/** `[id, [field, value, ...]]`; fields are null for an entry deleted while it was pending. */
type RawEntry = [id: Buffer, fields: Buffer[] | null];

/**
 * Consumes a Redis stream through a consumer group, at least once: an entry leaves the group's pending list (PEL)
 * only when it is acked (XACK). At open it creates the group if needed, at the start of the stream (id 0), so entries
 * already there are consumed too; it then re-reads this consumer's own pending entries (a restart under the same
 * `consumer` name resumes them), then reads new entries. Every `claimIdleMs / 2` (at least every 10 s) it claims
 * (XAUTOCLAIM) entries idle longer than `claimIdleMs`, from dead consumers or nacked here; a claimed entry this
 * adapter still has in flight (a slow handler) is not delivered twice, but another consumer may take it.
 *
 * Reads happen only as the stream is read, COUNT `min(maxInFlight, 1000)` at a time, so the PEL of this consumer
 * stays bounded by the pipeline's cap. Acks are queued: while the stream has a backlog they ride in the same round
 * trip as the next read (or go alone after 5 ms if that read is slow to come); otherwise, and always on `stop()` and
 * `close()`, they are sent on the command connection at the next turn of the event loop. `nack` leaves the entry
 * pending: it comes back after `claimIdleMs` with a higher `deliveryCount`, and past `maxDeliveries` the pipeline
 * stores it as a dead letter (`deliveryLimit`). Blocking reads use a second connection, which `stop()` unblocks
 * (CLIENT UNBLOCK).
 */
export class RedisStreamsAdapter implements Adapter<Redis> {
  /** @inheritdoc */
  readonly name = 'redis-streams';
  /** @inheritdoc */
  readonly canRequeue = true;
  /** @inheritdoc */
  readonly deliveryLimit: DeliveryLimit;
  /** The stream key consumed. */
  readonly stream: string;
  /** The consumer group. */
  readonly group: string;
  /** This consumer's name in the group. */
  readonly consumer: string;
  readonly #url: string;
  readonly #field: Buffer;
  readonly #claimIdleMs: number;
  readonly #claimEveryMs: number;
  readonly #blockMs: number;
  readonly #maxMessageBytes: number;
  readonly #retry: RedisRetryOptions;
  readonly #log: RedisLog;
  readonly #source: string;
  #commands: Redis | undefined;
  #reader: Redis | undefined;
  #readerId = 0;
  #readable: Readable | undefined;
  #count = MAX_COUNT;
  /** Ids read and not yet acked or nacked: a claim that returns one of them is this consumer's slow work, not lost work. */
  readonly #inFlight = new Set<string>();
  readonly #acks = new AckQueue();
  #ackFlushScheduled = false;
  #ackLinger: NodeJS.Timeout | undefined;
  /** Where re-reading this consumer's own pending entries has got to; null once they are all read. */
  #pendingCursor: string | null = '0';
  /** Where the current claim pass has got to: `0-0` starts a new pass. */
  #claimCursor = '0-0';
  #nextClaimAt = 0;
  #pumping = false;
  /** The last read returned a full COUNT: the stream has a backlog, so the next read returns at once. */
  #backlog = true;
  #blocking = false;
  #stopping = false;
  #ended = false;
  #pumped: Promise<void> = Promise.resolve();

  /** @param options The stream, and how to consume it; see {@link RedisStreamsAdapterOptions}. */
  constructor(options: RedisStreamsAdapterOptions) {
    this.#url = options.url ?? DEFAULT_REDIS_URL;
    assertRedisUrl(this.#url);
    if (!options.stream) throw new InvalidOptionError('give the stream to consume (--stream)');
    this.stream = options.stream;
    this.group = nonEmpty('group', options.group ?? 'missive');
    this.consumer = nonEmpty('consumer', options.consumer ?? `${hostname()}-${process.pid}`);
    this.#field = Buffer.from(nonEmpty('field', options.field ?? 'body'));
    this.#claimIdleMs = wholeNumberOption('claimIdleMs', options.claimIdleMs ?? 30_000, 1);
    this.#claimEveryMs = Math.min(Math.max(Math.floor(this.#claimIdleMs / 2), 10), 10_000);
    const maxDeliveries = wholeNumberOption('maxDeliveries', options.maxDeliveries ?? 5, 1);
    this.deliveryLimit = { maxDeliveries, option: '--max-deliveries' };
    this.#blockMs = wholeNumberOption('blockMs', options.blockMs ?? 1000, 1);
    this.#maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#retry = options;
    this.#log = options.log ?? (() => {});
    this.#source = `redis-streams:${this.stream}`;
  }

  /** The connection commands (XACK, XPENDING, XGROUP...) go through; undefined until `open()`. */
  get client(): Redis | undefined {
    return this.#commands;
  }

  /**
   * Connects (retrying, see {@link connectRedis}), creates the group if missing, and returns the stream of
   * `Delivery[]` batches. Fails with a `TransportError` naming the URL when Redis cannot be reached.
   */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#commands) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#count = Math.min(Math.max(1, options?.maxInFlight ?? MAX_COUNT), MAX_COUNT);
    const connect = (role: string) =>
      connectRedis(this.#url, { ...this.#retry, log: this.#log, connectionName: `missive:${this.consumer}:${role}` });
    this.#commands = await connect('commands');
    try {
      this.#reader = await connect('reader');
      this.#readerId = await this.#reader.client('ID');
      // A reconnected reader is a new client to Redis: stop() must unblock that one.
      const reader = this.#reader;
      reader.on('ready', () => void reader.client('ID').then((id) => (this.#readerId = id), () => {}));
      await this.#createGroup();
    } catch (error) {
      await Promise.all([closeRedis(this.#commands), closeRedis(this.#reader)]);
      throw error;
    }
    // One batch buffered: with the read in flight, at most two batches are read ahead of the consumer.
    this.#readable = new Readable({ objectMode: true, highWaterMark: 1, read: () => this.#pump() });
    return this.#readable;
  }

  /** Queues XACKs for these entries; they go out with the next read, or on their own at the next event-loop turn. */
  ack(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return Promise.resolve();
    const ids = new Array<string>(deliveries.length);
    for (let i = 0; i < deliveries.length; i++) {
      const id = deliveries[i]!.id!;
      ids[i] = id;
      this.#inFlight.delete(id);
    }
    const done = this.#acks.add(ids);
    this.#scheduleAckFlush();
    return done;
  }

  /** Leaves the entries pending: they are claimed again after `claimIdleMs`, by this consumer or another. */
  nack(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) this.#inFlight.delete(delivery.id!);
  }

  /** Ends the stream after the read in flight, which is woken if it waits for new entries. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#blocking && this.#commands) {
        // TIMEOUT mode: the read returns as if it had waited in vain, so nothing it might have taken is lost.
        await this.#commands.client('UNBLOCK', this.#readerId, 'TIMEOUT').catch(() => {});
      }
      if (!this.#pumping) this.#end();
    }
    await this.#pumped;
  }

  /** Stops, sends every queued ack, and closes both connections. */
  async close(): Promise<void> {
    await this.stop();
    await this.#flushAcks();
    await Promise.all([closeRedis(this.#reader), closeRedis(this.#commands)]);
  }

  async #createGroup(): Promise<void> {
    try {
      await this.#commands!.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (error) {
      if (describe(error).startsWith('BUSYGROUP')) return;
      throw new TransportError(
        `cannot create the consumer group "${this.group}" on the stream "${this.stream}" at ` +
          `${redactRedisUrl(this.#url)}: ${describe(error)}; check that the key is a stream (or unused)`,
        { cause: error },
      );
    }
  }

  /** Reads until one batch is pushed, the stream is stopped, or a read fails. Runs once at a time. */
  #pump(): void {
    if (this.#pumping || this.#ended) return;
    this.#pumping = true;
    this.#pumped = (async () => {
      try {
        while (!this.#stopping) {
          const batch = await this.#next();
          if (batch.length === 0) continue;
          this.#pumping = false;
          this.#readable!.push(batch);
          // Node asks again (`read`) when it wants more; until then nothing is read from Redis.
          if (!this.#stopping) return;
        }
        this.#pumping = false;
        this.#end();
      } catch (error) {
        this.#pumping = false;
        this.#ended = true;
        this.#readable!.destroy(
          new TransportError(
            `reading the stream "${this.stream}" at ${redactRedisUrl(this.#url)} failed: ${describe(error)}`,
            { cause: error },
          ),
        );
      } finally {
        // No read is under way any more: acks held back for one must not wait for a read that may never come.
        this.#scheduleAckFlush();
      }
    })();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#readable?.push(null);
  }

  /** One read: this consumer's own pending entries first, then a claim pass when one is due, else new entries. */
  async #next(): Promise<Delivery[]> {
    if (this.#pendingCursor !== null) return this.#readOwnPending(this.#pendingCursor);
    const now = Date.now();
    if (now >= this.#nextClaimAt) return this.#claim();
    // A read never waits past the next claim, so claims keep their schedule on an idle stream.
    const block = Math.max(1, Math.min(this.#blockMs, this.#nextClaimAt - now));
    this.#blocking = true;
    try {
      const entries = await this.#xreadgroup('>', block);
      this.#backlog = entries.length === this.#count;
      return this.#deliveries(entries, null);
    } finally {
      this.#blocking = false;
    }
  }

  async #readOwnPending(after: string): Promise<Delivery[]> {
    const entries = await this.#xreadgroup(after, null);
    if (entries.length === 0) {
      this.#pendingCursor = null;
      return [];
    }
    this.#pendingCursor = entries[entries.length - 1]![0].toString('latin1');
    return this.#deliveries(entries, await this.#deliveryCounts(entries));
  }

  async #claim(): Promise<Delivery[]> {
    const args = [this.stream, this.group, this.consumer, this.#claimIdleMs, this.#claimCursor, 'COUNT', this.#count];
    // No typed Buffer variant exists; the raw reply is already `[cursor, entries, deleted ids]`.
    const reply = (await this.#readerCall((target) => target.callBuffer('XAUTOCLAIM', args))) as [
      Buffer,
      RawEntry[],
      Buffer[]?,
    ];
    this.#claimCursor = reply[0].toString('latin1');
    if (this.#claimCursor === '0-0') this.#nextClaimAt = Date.now() + this.#claimEveryMs;
    const entries = reply[1].filter((entry) => !this.#inFlight.has(entry[0].toString('latin1')));
    if (entries.length === 0) return [];
    this.#log('info', `claimed ${entries.length} idle entries of the stream "${this.stream}"`, { group: this.group });
    return this.#deliveries(entries, await this.#deliveryCounts(entries));
  }

  /** The delivery count of each entry (already counting this delivery), from this consumer's PEL. */
  async #deliveryCounts(entries: readonly RawEntry[]): Promise<Map<string, number>> {
    const first = entries[0]![0];
    const last = entries[entries.length - 1]![0];
    // The range may also hold entries in flight here, hence the larger count.
    const rows = (await this.#commands!.xpending(
      this.stream,
      this.group,
      first,
      last,
      entries.length + this.#inFlight.size,
      this.consumer,
    )) as [string, string, number, number][];
    return new Map(rows.map((row) => [row[0], Number(row[3])]));
  }

  /**
   * Sends one command on the reader connection, behind an XACK of every queued ack: one round trip for both. The
   * XACK's own reply settles the acks as soon as it arrives, even while the read behind it still waits.
   */
  async #readerCall(send: (target: Redis | ChainableCommander) => unknown): Promise<unknown> {
    const acks = this.#takeAcks();
    if (!acks) return send(this.#reader!);
    const pipeline: ChainableCommander = this.#reader!.pipeline();
    pipeline.xack(this.stream, this.group, ...acks.ids, (error?: Error | null) => acks.settle(error ?? undefined));
    send(pipeline);
    const results = (await pipeline.exec()) ?? [];
    const [error, reply] = results[results.length - 1] ?? [new Error('the connection closed before the reply')];
    if (error) throw error;
    return reply;
  }

  /** XREADGROUP through the typed method: unlike a raw call, it keeps the reply shape RESP2 and RESP3 agree on. */
  #xreadgroup(id: string, block: number | null): Promise<RawEntry[]> {
    const { group, consumer, stream } = this;
    const count = this.#count;
    return this.#readerCall((target) =>
      block === null
        ? target.xreadgroupBuffer('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, id)
        : target.xreadgroupBuffer('GROUP', group, consumer, 'COUNT', count, 'BLOCK', block, 'STREAMS', stream, id),
    ).then((reply) => (reply as [Buffer, RawEntry[]][] | null)?.[0]?.[1] ?? []);
  }

  /**
   * Sends queued acks at the next event-loop turn, unless a read that returns at once is under way: then the read
   * after it takes them along, or they go on their own after {@link ACK_LINGER_MS}, whichever comes first.
   */
  #scheduleAckFlush(): void {
    if (this.#acks.size === 0) return;
    if (this.#nextReadCarriesAcks()) {
      this.#ackLinger ??= setTimeout(() => {
        this.#ackLinger = undefined;
        void this.#flushAcks();
      }, ACK_LINGER_MS);
      return;
    }
    if (this.#ackFlushScheduled) return;
    this.#ackFlushScheduled = true;
    setImmediate(() => {
      this.#ackFlushScheduled = false;
      if (!this.#nextReadCarriesAcks()) void this.#flushAcks();
    });
  }

  #takeAcks(): ReturnType<AckQueue['take']> {
    clearTimeout(this.#ackLinger);
    this.#ackLinger = undefined;
    return this.#acks.take();
  }

  #nextReadCarriesAcks(): boolean {
    return this.#pumping && this.#backlog && !this.#stopping;
  }

  /** Sends the queued acks on the command connection; the promises handed out by `ack` carry any failure. */
  async #flushAcks(): Promise<void> {
    const acks = this.#takeAcks();
    if (!acks) return;
    try {
      await this.#commands!.xack(this.stream, this.group, ...acks.ids);
      acks.settle();
    } catch (error) {
      acks.settle(error);
    }
  }

  #deliveries(entries: readonly RawEntry[], counts: Map<string, number> | null): Delivery[] {
    const out: Delivery[] = [];
    for (const [rawId, fields] of entries) {
      const id = rawId.toString('latin1');
      if (fields === null) {
        // Deleted from the stream while pending: nothing to deliver, only a PEL slot to free.
        void this.#acks.add([id]).catch(() => {});
        this.#scheduleAckFlush();
        continue;
      }
      this.#inFlight.add(id);
      out.push(this.#delivery(id, fields, counts?.get(id) ?? 1));
    }
    return out;
  }

  #delivery(id: string, fields: Buffer[], deliveryCount: number): Delivery {
    let body: Buffer | undefined;
    let headers: Record<string, string> | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (body === undefined && sameBytes(fields[i]!, this.#field)) {
        body = fields[i + 1]!;
      } else {
        (headers ??= {})[fields[i]!.toString()] = fields[i + 1]!.toString();
      }
    }
    const meta: DeliveryMeta = {
      source: this.#source,
      stream: this.stream,
      streamId: id,
      deliveryCount,
      headers: headers ?? NO_HEADERS,
    };
    if (body === undefined) {
      const names = Object.keys(headers ?? {}).join(', ') || 'none';
      return {
        body: Buffer.alloc(0),
        id,
        meta,
        rejected: {
          reason: MISSING_FIELD_REASON,
          error: `entry ${id} has no field "${this.#field}" (--field); its fields: ${names}`,
        },
      };
    }
    if (body.length > this.#maxMessageBytes) {
      return tooLarge({ body, id, meta }, `entry ${id}`, body.length, this.#maxMessageBytes);
    }
    return { body, id, meta };
  }
}

/** Ack ids waiting to be sent, and the promise their senders wait on; taken all at once by whoever sends them. */
class AckQueue {
  #ids: string[] = [];
  #resolve: (() => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #promise: Promise<void> | undefined;

  /** How many ids are queued. */
  get size(): number {
    return this.#ids.length;
  }

  /** Queues ids; resolves once the XACK that carries them is answered. */
  add(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#ids.push(id);
    this.#promise ??= new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    return this.#promise;
  }

  /** Everything queued, and how to report its fate; null when nothing is queued. */
  take(): { ids: string[]; settle: (error?: unknown) => void } | null {
    if (this.#ids.length === 0) return null;
    const ids = this.#ids;
    const resolve = this.#resolve!;
    const reject = this.#reject!;
    this.#ids = [];
    this.#promise = this.#resolve = this.#reject = undefined;
    return { ids, settle: (error) => (error === undefined ? resolve() : reject(error)) };
  }
}

/**
 * `a.equals(b)` in JS: `equals` crosses into C++ for every entry, several times what comparing a field name of a few
 * bytes costs here.
 */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function nonEmpty(name: string, value: string): string {
  if (value === '') throw new InvalidOptionError(`${name} must not be empty`);
  return value;
}
