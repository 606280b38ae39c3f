import { Readable } from 'node:stream';
import type { Delivery } from '../delivery.js';
import type { DeadLetter, Dlq, DlqFilter } from '../dlq/dlq.js';
import { matchesFilter } from '../dlq/letters.js';
import { InvalidOptionError } from '../errors.js';
import type { AckKind, Adapter, AdapterOpenOptions } from './adapter.js';
import { wholeNumberOption } from '../options.js';

/** Options of a {@link DlqSourceAdapter}. */
export interface DlqSourceOptions {
  /** Which letters to replay; none selects every letter. */
  readonly filter?: DlqFilter;
  /** The most letters to replay. Default: every selected letter. */
  readonly limit?: number;
  /** Deliveries per chunk of the stream. Default 100. */
  readonly chunkSize?: number;
}

/**
 * Reads dead letters back out of a store as deliveries, to run them through a processor again (`missive dlq
 * replay`). Each delivery keeps the letter's id, body and source, so a letter that fails again has the same key
 * and is written over its own row, and carries `deliveryCount: attempts + 1`, so that row counts the new
 * attempt. A handled letter is deleted from the store, by its key (never another letter with the same id), when
 * it is acked; a dead-lettered one is left alone, as the pipeline has just stored its new failure.
 *
 * Letters are read in the store's own order (first failure, then id), a page at a time. Writing a letter back keeps
 * its first failure time, so it lands behind the read position and is never taken as new input.
 */
export class DlqSourceAdapter implements Adapter<Dlq> {
  /** @inheritdoc */
  readonly name = 'dlq';
  /** Letters cannot be handed back for later: the pipeline stores a nacked letter again, as `nacked`. */
  readonly canRequeue = false;
  /** The store the letters come from. */
  readonly client: Dlq;
  readonly #filter: DlqFilter;
  readonly #limit: number;
  readonly #chunkSize: number;
  #opened = false;
  #stopped = false;
  #output: Readable | null = null;
  /** The key of the letter each delivery came from: the body may be moved to a worker, so it is kept here. */
  readonly #keys = new WeakMap<Delivery, string>();

  /**
   * @param dlq The store to read from; the pipeline must write its dead letters to this same store.
   * @param options Which letters, and how many.
   */
  constructor(dlq: Dlq, options: DlqSourceOptions = {}) {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const chunkSize = options.chunkSize ?? 100;
    if (!(limit >= 0) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
      throw new InvalidOptionError(`limit must be a whole number of at least 0, got ${limit}`);
    }
    wholeNumberOption('chunkSize', chunkSize, 1);
    this.client = dlq;
    this.#filter = { ...options.filter };
    this.#limit = limit;
    this.#chunkSize = chunkSize;
  }

  /** Starts reading the selected letters; the store is read only as fast as the stream is. */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#opened) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#opened = true;
    // A chunk larger than the in-flight cap would only be split up by the pipeline again.
    const chunkSize = Math.max(1, Math.min(this.#chunkSize, options?.maxInFlight ?? this.#chunkSize));
    this.#output = Readable.from(this.#chunks(chunkSize), { objectMode: true, highWaterMark: 2 });
    return this.#output;
  }

  /** Handled letters leave the store; dead-lettered ones were already written over by the pipeline. */
  async ack(deliveries: readonly Delivery[], kind: AckKind): Promise<void> {
    if (kind !== 'handled' || deliveries.length === 0) return;
    const keys = deliveries.map((delivery) => this.#keys.get(delivery)).filter((key) => key !== undefined);
    await this.client.delete(keys);
  }

  /** Never called: `canRequeue` is false. */
  nack(): void {}

  /** Stops reading: letters not read yet stay in the store untouched. */
  async stop(): Promise<void> {
    this.#stopped = true;
  }

  /** Stops reading. The store is the caller's to close. */
  async close(): Promise<void> {
    await this.stop();
    this.#output?.destroy();
  }

  async *#chunks(chunkSize: number): AsyncGenerator<Delivery[]> {
    if (this.#limit === 0) return;
    let taken = 0;
    let chunk: Delivery[] = [];
    for await (const letter of this.client) {
      if (this.#stopped) return;
      if (!matchesFilter(letter, this.#filter)) continue;
      const delivery = deliveryOf(letter);
      this.#keys.set(delivery, letter.key);
      chunk.push(delivery);
      taken++;
      if (taken >= this.#limit) break;
      if (chunk.length >= chunkSize) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0 && !this.#stopped) yield chunk;
  }
}

/** The delivery that replays a letter: the meta the letter was stored from, and one more delivery counted. */
function deliveryOf(letter: DeadLetter): Delivery {
  return {
    id: letter.id,
    body: letter.body,
    meta: {
      ...letter.headers,
      ...(letter.source === null ? {} : { source: letter.source }),
      deliveryCount: letter.attempts + 1,
    },
  };
}
