import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Delivery, DeliveryMeta } from '../delivery.js';
import { ClosedError, InvalidOptionError, describe } from '../errors.js';
import { Reasons } from '../outcome.js';
import type { Adapter, AckKind, AdapterOpenOptions, DeliveryLimit } from './adapter.js';
import { wholeNumberOption } from '../options.js';

/** How a {@link MemoryAdapter} behaves. Every option has a default that suits tests. */
export interface MemoryAdapterOptions {
  /**
   * End the stream (and so the run) as soon as everything published has been settled, instead of waiting for
   * `end()`: publish first, then run, then `await running.done`. Default false.
   */
  readonly endWhenIdle?: boolean;
  /**
   * A message delivered more times than this (each nack delivers it again) becomes a dead letter
   * `too many deliveries` instead of running again, as on Redis Streams. Default 5.
   */
  readonly maxDeliveries?: number;
  /**
   * Whether a nack delivers the message again (`canRequeue`). False behaves like stdin or Pub/Sub: the pipeline
   * stores a nacked message as a dead letter `nacked`. Default true.
   */
  readonly requeue?: boolean;
  /** `meta.source` of every delivery (`ctx.delivery.source`), unless its `publish` meta has one. Default `memory`. */
  readonly source?: string;
  /** Told of every settle as it happens, before the promise `publish` returned resolves. Default: nobody. */
  readonly onSettle?: (kind: MemorySettleKind, delivery: MemoryDelivery) => void;
}

/** What one published message may carry. */
export interface PublishOptions {
  /** The message id (one body only). Default: a random UUID. */
  readonly id?: string;
  /**
   * Transport metadata, seen by handlers as `ctx.delivery`. It is copied with structured clone when published, as
   * it is when it crosses to a worker thread: a value that cannot cross (a function) is refused here, and one that
   * changes on the way (a class instance becomes a plain object) reaches every handler changed. A `deliveryCount`
   * here counts the message as delivered that many times already, the first delivery included.
   */
  readonly meta?: DeliveryMeta;
}

/** What `publish` takes: bytes, or a string sent as UTF-8. */
export type MemoryBody = Buffer | Uint8Array | string;

/** One delivery of a message, as the adapter recorded it. */
export interface MemoryDelivery {
  readonly id: string;
  readonly body: Buffer;
  /** The metadata the handler saw, `source` and `deliveryCount` included. */
  readonly meta: DeliveryMeta;
  /** 1 for the first delivery, 2 after one nack... */
  readonly deliveryCount: number;
}

/** How a delivery was settled: acked as handled, acked after its dead letter was stored, or nacked. */
export type MemorySettleKind = AckKind | 'nacked';

/** What became of a published message, as the promise `publish` returned says. */
export interface MemorySettlement {
  readonly id: string;
  /**
   * `handled` or `dead-lettered` (acked either way), or `unsettled`: still waiting or in flight when the adapter
   * was closed (a run stopped, or killed, before it was done with it).
   */
  readonly outcome: AckKind | 'unsettled';
  /** Its last delivery; undefined when it was never delivered. */
  readonly delivery: MemoryDelivery | undefined;
  /** How many times it was nacked. */
  readonly nacks: number;
}

/** Dead-letter reason of a message delivered more than `maxDeliveries` times (the same as Redis Streams'). */
export const TOO_MANY_DELIVERIES = Reasons.tooManyDeliveries;

/** A published message while the adapter holds it. */
interface Entry {
  readonly id: string;
  readonly body: Buffer;
  readonly meta: DeliveryMeta;
  deliveries: number;
  nacks: number;
  /** The delivery in flight, if one is. */
  out: MemoryDelivery | undefined;
  last: MemoryDelivery | undefined;
  readonly settle: (settlement: MemorySettlement) => void;
}

/**
 * An in-memory transport for tests and embedding, with what a broker has: a nacked message is delivered again with
 * `meta.deliveryCount` one higher, up to `maxDeliveries`; every ack and nack is recorded. It runs the whole
 * pipeline, worker threads included, so what a test sees is what a run does.
 *
 * ```js
 * import { MemoryDlq, run } from 'missive-node';
 * import { MemoryAdapter } from 'missive-node/adapters';
 * const adapter = new MemoryAdapter({ endWhenIdle: true });
 * adapter.publish(['{"n":1}', '{"n":2}']);
 * const running = await run(processor, { adapter, threads: 0, dlq: new MemoryDlq() });
 * await running.done;
 * console.log(adapter.handled.length, adapter.deadLettered.length);
 * ```
 */
export class MemoryAdapter implements Adapter<undefined> {
  readonly name = 'memory';
  readonly canRequeue: boolean;
  readonly client = undefined;
  /** @inheritdoc */
  readonly deliveryLimit: DeliveryLimit;
  /** Every delivery acked, handled or dead-lettered, in the order they were acked. */
  readonly acked: MemoryDelivery[] = [];
  /** Deliveries acked as handled. */
  readonly handled: MemoryDelivery[] = [];
  /** Deliveries acked after their dead letter was stored. */
  readonly deadLettered: MemoryDelivery[] = [];
  /** Every nack, one entry per nacked delivery (a message nacked twice is here twice, with its two counts). */
  readonly nacked: MemoryDelivery[] = [];
  /** Answers handlers gave with `ctx.reply`, in the order they were sent. */
  readonly replies: { readonly delivery: MemoryDelivery; readonly body: Buffer }[] = [];
  readonly #endWhenIdle: boolean;
  readonly #source: string;
  readonly #onSettle: MemoryAdapterOptions['onSettle'];
  /** Messages waiting to be delivered, oldest first; a nacked one goes to the back. */
  readonly #queue: Entry[] = [];
  /** Published and not yet acked: waiting or in flight. */
  readonly #unsettled = new Set<Entry>();
  #stream: Readable | undefined;
  #chunkSize = 1000;
  /** Whether the stream asked for more and was not given any yet. */
  #wanted = false;
  /** No more publishes: `end()`, `stop()` or `close()` was called. */
  #ended = false;
  #streamEnded = false;
  #closed = false;

  constructor(options: MemoryAdapterOptions = {}) {
    const { endWhenIdle = false, maxDeliveries = 5, requeue = true, source = 'memory', onSettle } = options;
    if (typeof endWhenIdle !== 'boolean')
      throw new InvalidOptionError(`MemoryAdapter endWhenIdle must be true or false, got ${String(endWhenIdle)}`);
    if (typeof requeue !== 'boolean')
      throw new InvalidOptionError(`MemoryAdapter requeue must be true or false, got ${String(requeue)}`);
    wholeNumberOption('MemoryAdapter maxDeliveries', maxDeliveries, 1);
    if (typeof source !== 'string' || source === '')
      throw new InvalidOptionError('MemoryAdapter source must be a non-empty string');
    if (onSettle !== undefined && typeof onSettle !== 'function')
      throw new InvalidOptionError('MemoryAdapter onSettle must be a function');
    this.#endWhenIdle = endWhenIdle;
    this.deliveryLimit = { maxDeliveries, option: 'maxDeliveries' };
    this.canRequeue = requeue;
    this.#source = source;
    this.#onSettle = onSettle;
  }

  /** Messages published and not yet acked: waiting, or in flight. */
  get pending(): number {
    return this.#unsettled.size;
  }

  /**
   * Queues one message, or several (one per body). Resolves, never rejects, with what became of it once it is
   * acked, or `unsettled` if the adapter is closed first. Throws at once for a body or option it cannot take, and
   * after `end()`.
   */
  publish(body: MemoryBody, options?: PublishOptions): Promise<MemorySettlement>;
  publish(bodies: readonly MemoryBody[], options?: Omit<PublishOptions, 'id'>): Promise<MemorySettlement[]>;
  publish(
    bodies: MemoryBody | readonly MemoryBody[],
    options: PublishOptions = {},
  ): Promise<MemorySettlement | MemorySettlement[]> {
    if (this.#ended || this.#streamEnded) {
      throw new ClosedError(
        'MemoryAdapter.publish(): the adapter has ended (end(), stop(), or endWhenIdle ran out of messages); create a new one',
      );
    }
    const many = Array.isArray(bodies);
    if (many && options.id !== undefined) {
      throw new InvalidOptionError(
        'MemoryAdapter.publish(bodies, { id }): an id names one message; publish the bodies one by one',
      );
    }
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id === '')) {
      throw new InvalidOptionError('MemoryAdapter.publish(body, { id }): the id must be a non-empty string');
    }
    const meta = cloneMeta(options.meta);
    const list = (many ? bodies : [bodies]) as readonly MemoryBody[];
    const buffers = list.map(toBuffer);
    const settled = buffers.map((body) => {
      const id = (!many && options.id) || randomUUID();
      const first =
        typeof meta.deliveryCount === 'number' && meta.deliveryCount >= 1 ? Math.floor(meta.deliveryCount) : 1;
      return new Promise<MemorySettlement>((settle) => {
        const entry: Entry = {
          id,
          body,
          meta,
          deliveries: first - 1,
          nacks: 0,
          out: undefined,
          last: undefined,
          settle,
        };
        this.#queue.push(entry);
        this.#unsettled.add(entry);
      });
    });
    this.#pump();
    return many ? Promise.all(settled) : settled[0]!;
  }

  /** No more messages: the stream ends once every message published has been acked. */
  end(): void {
    this.#ended = true;
    this.#pump();
  }

  async open(options: AdapterOpenOptions): Promise<Readable> {
    if (this.#stream) throw new ClosedError('a MemoryAdapter is opened once; create a new one for another run');
    this.#chunkSize = Math.max(1, Math.min(1000, options.maxInFlight));
    this.#stream = new Readable({
      objectMode: true,
      highWaterMark: 1,
      read: () => {
        this.#wanted = true;
        this.#pump();
      },
    });
    // With nothing published yet, endWhenIdle ends the stream here: the run reads nothing and is done.
    queueMicrotask(() => this.#pump());
    return this.#stream;
  }

  ack(deliveries: readonly Delivery[], kind: AckKind): void {
    for (const delivery of deliveries) {
      const entry = this.#take(delivery, 'ack');
      const record = entry.out!;
      entry.out = undefined;
      this.#unsettled.delete(entry);
      this.acked.push(record);
      (kind === 'handled' ? this.handled : this.deadLettered).push(record);
      this.#onSettle?.(kind, record);
      entry.settle({ id: entry.id, outcome: kind, delivery: record, nacks: entry.nacks });
    }
    this.#pump();
  }

  nack(deliveries: readonly Delivery[]): void {
    if (!this.canRequeue) throw new Error('MemoryAdapter.nack: this adapter was made with requeue: false');
    for (const delivery of deliveries) {
      const entry = this.#take(delivery, 'nack');
      const record = entry.out!;
      entry.out = undefined;
      entry.nacks++;
      this.nacked.push(record);
      this.#onSettle?.('nacked', record);
      this.#queue.push(entry);
    }
    this.#pump();
  }

  reply(delivery: Delivery, body: Buffer): void {
    this.replies.push({ delivery: this.#take(delivery, 'reply').out!, body });
  }

  async stop(): Promise<void> {
    this.#ended = true;
    this.#endStream();
  }

  /** Whatever is still waiting or in flight resolves its `publish` promise as `unsettled`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ended = true;
    this.#endStream();
    for (const entry of this.#unsettled)
      entry.settle({ id: entry.id, outcome: 'unsettled', delivery: entry.last, nacks: entry.nacks });
    this.#unsettled.clear();
    this.#queue.length = 0;
  }

  /** Hands waiting messages to the stream when it wants them, and ends it when there is nothing left to wait for. */
  #pump(): void {
    const stream = this.#stream;
    if (!stream || this.#streamEnded) return;
    while (this.#wanted && this.#queue.length > 0) {
      const chunk = this.#queue.splice(0, this.#chunkSize).map((entry) => this.#deliver(entry));
      this.#wanted = stream.push(chunk);
    }
    if ((this.#ended || this.#endWhenIdle) && this.#unsettled.size === 0) this.#endStream();
  }

  #deliver(entry: Entry): Delivery {
    entry.deliveries++;
    const meta: DeliveryMeta = { source: this.#source, ...entry.meta, deliveryCount: entry.deliveries };
    const record: MemoryDelivery = { id: entry.id, body: entry.body, meta, deliveryCount: entry.deliveries };
    entry.out = entry.last = record;
    return { body: entry.body, id: entry.id, meta, handle: entry };
  }

  #take(delivery: Delivery, what: string): Entry {
    const entry = delivery.handle as Entry | undefined;
    if (!entry || entry.out === undefined || !this.#unsettled.has(entry)) {
      throw new Error(
        `MemoryAdapter.${what}: delivery ${delivery.id ?? '?'} is not in flight (settled twice, or not from this adapter)`,
      );
    }
    return entry;
  }

  #endStream(): void {
    if (this.#streamEnded || !this.#stream) return;
    this.#streamEnded = true;
    this.#stream.push(null);
  }
}

function toBuffer(body: MemoryBody): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  throw new InvalidOptionError(
    `MemoryAdapter.publish: a body is a Buffer, a Uint8Array or a string, got ${body === null ? 'null' : typeof body}; JSON.stringify objects first`,
  );
}

function cloneMeta(meta: DeliveryMeta | undefined): DeliveryMeta {
  if (meta === undefined) return {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new InvalidOptionError(
      'MemoryAdapter.publish(body, { meta }): meta must be a plain object (headers, and keys of your own)',
    );
  }
  try {
    return structuredClone(meta);
  } catch (error) {
    throw new InvalidOptionError(
      `MemoryAdapter.publish(body, { meta }): meta cannot cross to a worker thread (${describe(error)}); keep it to ` +
        'plain objects, arrays, strings, numbers, booleans, dates and buffers',
    );
  }
}
