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
  isPassingRedisError,
  isRedisReady,
  redactRedisUrl,
  type RedisLog,
  type RedisRetryOptions,
} from './redis-connection.js';
import { wholeNumberOption } from '../options.js';
import { backoffDelay, type BackoffOptions } from '../retry.js';

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
  /**
   * Bytes of entries read and not yet settled (acked or nacked): no read starts past it, and a read asks for no
   * more entries than fit in what is left, judged by the largest entries read lately. An entry larger than the
   * whole cap is still read, alone. Default {@link DEFAULT_MAX_BYTES_IN_FLIGHT}.
   */
  readonly maxBytesInFlight?: number;
  /** Where connection trouble is reported. Default: nowhere. */
  readonly log?: RedisLog;
}

/** Default of {@link RedisStreamsAdapterOptions.maxBytesInFlight}: 64 MiB. */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

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
/** How much the size estimate of an entry shrinks per read: a stream of large entries that turns small reads more again. */
const ENTRY_BYTES_DECAY = 0.9;
/** Waits between reads that failed with an error worth trying again (a lost connection is waited out by ioredis). */
const READ_RETRY: BackoffOptions = { initialMs: 250, factor: 2, maxMs: 5000, jitter: true };

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
 * stays bounded by the pipeline's cap, and fewer when entries are large (`maxBytesInFlight`). Acks are queued: while the stream has a backlog they ride in the same round
 * trip as the next read (or go alone after 5 ms if that read is slow to come); otherwise, and always on `stop()` and
 * `close()`, they are sent on the command connection at the next turn of the event loop. `nack` leaves the entry
 * pending: it comes back after `claimIdleMs` with a higher `deliveryCount`, and past `maxDeliveries` the pipeline
 * stores it as a dead letter (`deliveryLimit`). Blocking reads use a second connection, which `stop()` unblocks
 * (CLIENT UNBLOCK).
 *
 * A lost connection is waited out however long it lasts (see {@link connectRedis}): reads and acks resume by
 * themselves, and an ack counts (`ackConfirmed`) only once XACK's reply says the entry left the PEL. Stopping while
 * Redis is unreachable does not wait for it: the read under way is given up, acks from then on are not sent (their
 * entries stay pending and are delivered again), and both connections are dropped.
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
  readonly #maxBytesInFlight: number;
  readonly #retry: RedisRetryOptions;
  readonly #log: RedisLog;
  readonly #source: string;
  #commands: Redis | undefined;
  #reader: Redis | undefined;
  #readerId = 0;
  #readable: Readable | undefined;
  #count = MAX_COUNT;
  /**
   * Ids read and not yet nacked or acked (XACK answered), with their bytes: a claim that returns one of them is this
   * consumer's slow work, not lost work.
   */
  readonly #inFlight = new Map<string, number>();
  #bytesInFlight = 0;
  /** The largest entry read lately, in bytes (decaying); at first the stream's average; 0 when unknown. */
  #entryBytes = 0;
  readonly #acks = new AckQueue();
  /** Acks sent whose XACK has not answered: given up on if the connection is dropped while stopping. */
  readonly #unanswered = new Set<AckBatch>();
  /** Wakes the read loop waiting for room or for its next attempt. */
  #wake: (() => void) | undefined;
  /** Why Redis was given up on (see `#abandonIfDown`); undefined while it is not. */
  #abandoned: Error | undefined;
  /** Set by `close()`: connections that end now are ending on purpose. */
  #closing = false;
  /** Those waiting for a command, told when Redis is given up on. */
  readonly #onAbandon = new Set<(error: Error) => void>();
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
    this.#maxBytesInFlight = wholeNumberOption(
      'maxBytesInFlight',
      options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT,
      1,
    );
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
      reader.on(
        'ready',
        () =>
          void reader.client('ID').then(
            (id) => (this.#readerId = id),
            () => {},
          ),
      );
      for (const client of [this.#commands, reader]) client.on('close', () => this.#abandonIfDown());
      await this.#createGroup();
      this.#entryBytes = await this.#averageEntryBytes();
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
    return this.ackConfirmed(deliveries).then(() => {});
  }

  /**
   * Acks like `ack`, and resolves with how many of the entries XACK took out of the PEL: not those it found no
   * longer pending (acked already, or lost with the stream), nor any while the connection was given up on.
   */
  ackConfirmed(deliveries: readonly Delivery[]): Promise<number> {
    if (deliveries.length === 0) return Promise.resolve(0);
    const ids = new Array<string>(deliveries.length);
    for (let i = 0; i < deliveries.length; i++) ids[i] = deliveries[i]!.id!;
    if (this.#abandoned) {
      this.#release(ids);
      return Promise.resolve(0);
    }
    const done = this.#acks.add(ids);
    this.#scheduleAckFlush();
    return done;
  }

  /** Leaves the entries pending: they are claimed again after `claimIdleMs`, by this consumer or another. */
  nack(deliveries: readonly Delivery[]): void {
    this.#release(deliveries.map((delivery) => delivery.id!));
  }

  /**
   * Ends the stream after the read in flight, which is woken if it waits for new entries, or given up on if Redis
   * cannot be reached.
   */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#wake?.();
      this.#abandonIfDown();
      if (this.#blocking && this.#commands && !this.#abandoned) {
        // TIMEOUT mode: the read returns as if it had waited in vain, so nothing it might have taken is lost.
        await this.#untilAbandoned(this.#commands.client('UNBLOCK', this.#readerId, 'TIMEOUT')).catch(() => {});
      }
      if (!this.#pumping) this.#end();
    }
    await this.#pumped;
  }

  /** Stops, sends every queued ack (unless Redis cannot be reached), and closes both connections. */
  async close(): Promise<void> {
    await this.stop();
    await this.#flushAcks();
    this.#closing = true;
    await Promise.all([closeRedis(this.#reader), closeRedis(this.#commands)]);
  }

  /**
   * Once stopping, a connection that is down is not waited for: whatever waits for Redis (the read, the acks) is
   * given up on, and both connections are dropped, so a shutdown ends within its drain timeout however long the
   * outage lasts. The entries concerned stay pending in the group and are delivered again after `claimIdleMs`.
   */
  #abandonIfDown(): void {
    if (!this.#stopping || this.#abandoned || this.#closing) return;
    if (isRedisReady(this.#commands) && isRedisReady(this.#reader)) return;
    const unsent = this.#acks.size;
    let unanswered = 0;
    for (const batch of this.#unanswered) unanswered += batch.ids.length;
    const error = new TransportError(
      `Redis at ${redactRedisUrl(this.#url)} cannot be reached while stopping; the entries not acked stay pending in ` +
        `the group "${this.group}" and are delivered again after --claim-idle`,
    );
    this.#log('warn', `redis-streams: ${error.message}`, {
      acksNotConfirmed: unsent + unanswered,
      inFlight: this.#inFlight.size,
    });
    this.#abandoned = error;
    for (const reject of [...this.#onAbandon]) reject(error);
    for (const batch of [...this.#unanswered]) batch.settle(error);
    this.#takeAcks()?.settle(error);
    this.#reader?.disconnect();
    this.#commands?.disconnect();
  }

  /**
   * `promise`, or a rejection as soon as Redis is given up on (a command waiting for a reconnection never settles).
   * Not `Promise.race` with one promise for the whole run: each race would leave a reaction on it, and through that
   * keep every batch ever read alive.
   */
  #untilAbandoned<T>(promise: Promise<T>): Promise<T> {
    if (this.#abandoned) return Promise.reject(this.#abandoned);
    return new Promise<T>((resolve, reject) => {
      this.#onAbandon.add(reject);
      promise.then(resolve, reject).finally(() => this.#onAbandon.delete(reject));
    });
  }

  /** Takes settled entries out of the in-flight count; a read waiting for room may go on. */
  #release(ids: readonly string[]): void {
    for (const id of ids) {
      const bytes = this.#inFlight.get(id);
      if (bytes === undefined) continue;
      this.#bytesInFlight -= bytes;
      this.#inFlight.delete(id);
    }
    if (this.#bytesInFlight < this.#maxBytesInFlight) this.#wake?.();
  }

  /** Resolves after `ms` (never, when undefined), or earlier when woken (room to read, or stopping). */
  #pause(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
    });
  }

  /** How many entries the next read asks for: as many as fit in the byte cap, judged by the largest read lately. */
  #readCount(): number {
    if (this.#entryBytes === 0) return 1;
    const room = Math.floor((this.#maxBytesInFlight - this.#bytesInFlight) / this.#entryBytes);
    return Math.max(1, Math.min(this.#count, room));
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

  /**
   * The stream's memory over its length, so that the first read of a backlog of large entries asks for few of them;
   * 0 (the first read asks for one) when the stream is empty or the server will not say.
   */
  async #averageEntryBytes(): Promise<number> {
    try {
      const commands = this.#commands!;
      const [bytes, length] = await Promise.all([
        commands.call('MEMORY', 'USAGE', this.stream),
        commands.xlen(this.stream),
      ]);
      return length > 0 && Number(bytes) > 0 ? Math.ceil(Number(bytes) / length) : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Reads until one batch is pushed, the stream is stopped, or a read fails for good; a read that failed with an
   * error worth trying again is tried again (logged, with growing waits). Runs once at a time.
   */
  #pump(): void {
    if (this.#pumping || this.#ended) return;
    this.#pumping = true;
    this.#pumped = (async () => {
      try {
        let failures = 0;
        while (!this.#stopping) {
          // Past the byte cap nothing more is read until something settles; one entry is always allowed.
          if (this.#bytesInFlight >= this.#maxBytesInFlight && this.#inFlight.size > 0) {
            await this.#pause();
            continue;
          }
          let batch: Delivery[];
          try {
            batch = await this.#untilAbandoned(this.#next());
            failures = 0;
          } catch (error) {
            if (this.#stopping) break;
            if (!isPassingRedisError(error)) throw error;
            await this.#readFailed(error, ++failures);
            continue;
          }
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

  /** Logs a read that will be tried again, recreates a lost consumer group, and waits before the next try. */
  async #readFailed(error: unknown, failures: number): Promise<void> {
    const delay = Math.round(backoffDelay(READ_RETRY, failures));
    const reason = describe(error);
    this.#log(
      'warn',
      `redis-streams: reading the stream "${this.stream}" failed (${reason}); trying again in ${delay} ms`,
      {
        attempt: failures,
      },
    );
    if (reason.startsWith('NOGROUP')) {
      // The server lost the group (restarted without its data): entries added from now on are still consumed.
      await this.#untilAbandoned(this.#createGroup()).catch(() => {});
      this.#claimCursor = '0-0';
    }
    await this.#pause(delay);
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
    const count = this.#readCount();
    this.#blocking = true;
    try {
      const entries = await this.#xreadgroup('>', block, count);
      this.#backlog = entries.length === count;
      return this.#deliveries(entries, null);
    } finally {
      this.#blocking = false;
    }
  }

  async #readOwnPending(after: string): Promise<Delivery[]> {
    const entries = await this.#xreadgroup(after, null, this.#readCount());
    if (entries.length === 0) {
      this.#pendingCursor = null;
      return [];
    }
    this.#pendingCursor = entries[entries.length - 1]![0].toString('latin1');
    return this.#deliveries(entries, await this.#deliveryCounts(entries));
  }

  async #claim(): Promise<Delivery[]> {
    const args = [
      this.stream,
      this.group,
      this.consumer,
      this.#claimIdleMs,
      this.#claimCursor,
      'COUNT',
      this.#readCount(),
    ];
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
    pipeline.xack(this.stream, this.group, ...acks.ids, (error?: Error | null, reply?: number) =>
      acks.settle(error ?? Number(reply)),
    );
    send(pipeline);
    const results = (await pipeline.exec()) ?? [];
    const [error, reply] = results[results.length - 1] ?? [new Error('the connection closed before the reply')];
    if (error) throw error;
    return reply;
  }

  /** XREADGROUP through the typed method: unlike a raw call, it keeps the reply shape RESP2 and RESP3 agree on. */
  #xreadgroup(id: string, block: number | null, count: number): Promise<RawEntry[]> {
    const { group, consumer, stream } = this;
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

  /** Takes every queued ack for one XACK; settling it frees its entries and reports the reply to their senders. */
  #takeAcks(): AckBatch | null {
    clearTimeout(this.#ackLinger);
    this.#ackLinger = undefined;
    const taken = this.#acks.take();
    if (!taken) return null;
    let open = true;
    const batch: AckBatch = {
      ids: taken.ids,
      settle: (reply) => {
        if (!open) return;
        open = false;
        this.#unanswered.delete(batch);
        this.#release(taken.ids);
        if (typeof reply === 'number' && reply < taken.ids.length) {
          this.#log(
            'warn',
            `redis-streams: ${taken.ids.length - reply} of ${taken.ids.length} entries acked were no longer pending in the group "${this.group}" (acked already, or lost with the stream)`,
          );
        }
        taken.settle(reply);
      },
    };
    this.#unanswered.add(batch);
    return batch;
  }

  #nextReadCarriesAcks(): boolean {
    return this.#pumping && this.#backlog && !this.#stopping;
  }

  /** Sends the queued acks on the command connection; the promises handed out by `ack` carry any failure. */
  async #flushAcks(): Promise<void> {
    const acks = this.#takeAcks();
    if (!acks) return;
    try {
      acks.settle(await this.#untilAbandoned(this.#commands!.xack(this.stream, this.group, ...acks.ids)));
    } catch (error) {
      acks.settle(error);
    }
  }

  #deliveries(entries: readonly RawEntry[], counts: Map<string, number> | null): Delivery[] {
    const out: Delivery[] = [];
    let largest = 0;
    for (const [rawId, fields] of entries) {
      const id = rawId.toString('latin1');
      if (fields === null) {
        // Deleted from the stream while pending: nothing to deliver, only a PEL slot to free.
        void this.#acks.add([id]).catch(() => {});
        this.#scheduleAckFlush();
        continue;
      }
      let bytes = 0;
      for (let i = 0; i < fields.length; i++) bytes += fields[i]!.length;
      if (bytes > largest) largest = bytes;
      this.#inFlight.set(id, bytes);
      this.#bytesInFlight += bytes;
      out.push(this.#delivery(id, fields, counts?.get(id) ?? 1));
    }
    if (out.length > 0) this.#entryBytes = Math.max(largest, 1, this.#entryBytes * ENTRY_BYTES_DECAY);
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
          error: `entry ${id} has no field "${this.#field.toString()}" (--field); its fields: ${names}`,
        },
      };
    }
    if (body.length > this.#maxMessageBytes) {
      return tooLarge({ body, id, meta }, `entry ${id}`, body.length, this.#maxMessageBytes);
    }
    return { body, id, meta };
  }
}

/** Ids for one XACK, and how to report its fate: XACK's reply (how many left the PEL), or the error. */
interface AckBatch {
  readonly ids: string[];
  settle(reply: unknown): void;
}

/** Ack ids waiting to be sent, and their senders; taken all at once by whoever sends them. */
class AckQueue {
  #ids: string[] = [];
  #senders: { count: number; resolve: (confirmed: number) => void; reject: (error: unknown) => void }[] = [];

  /** How many ids are queued. */
  get size(): number {
    return this.#ids.length;
  }

  /** Queues ids; resolves with how many of them the XACK that carries them confirmed. */
  add(ids: readonly string[]): Promise<number> {
    for (const id of ids) this.#ids.push(id);
    return new Promise<number>((resolve, reject) => this.#senders.push({ count: ids.length, resolve, reject }));
  }

  /**
   * Everything queued; null when nothing is. XACK answers one count for all its ids: the senders are credited in
   * order, so the total confirmed is exact while which sender's entry was no longer pending is a guess.
   */
  take(): AckBatch | null {
    if (this.#ids.length === 0) return null;
    const ids = this.#ids;
    const senders = this.#senders;
    this.#ids = [];
    this.#senders = [];
    return {
      ids,
      settle: (reply) => {
        let left = typeof reply === 'number' ? reply : -1;
        for (const sender of senders) {
          if (left < 0) {
            sender.reject(reply);
            continue;
          }
          const confirmed = Math.min(sender.count, left);
          left -= confirmed;
          sender.resolve(confirmed);
        }
      },
    };
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
