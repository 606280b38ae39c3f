import type { Readable } from 'node:stream';
import type { Adapter } from '../adapters/adapter.js';
import type { Delivery } from '../delivery.js';
import { deliveriesOfBlock, isLineBlock, type LineBlock } from '../line-block.js';
import type { Message } from '../message.js';
import type { Admission } from './admission.js';
import { ChunkReader, ENDED } from './chunk-reader.js';
import type { Dispatcher } from './dispatch.js';
import type { Intake } from './intake.js';
import type { Settler } from './settle.js';
import type { Shutdown } from './shutdown.js';
import type { Stats } from './stats.js';

/** What {@link Feed} works with. */
export interface FeedOptions<M extends Message<unknown>> {
  readonly adapter: Adapter;
  readonly stats: Stats;
  readonly admission: Admission;
  readonly dispatcher: Dispatcher<M>;
  readonly intake: Intake<M>;
  readonly settler: Settler;
  readonly shutdown: Shutdown;
  /**
   * Whether blocks of lines are split into deliveries here: this thread routes, and handlers run in workers. Else
   * a block goes to the executor whole.
   */
  readonly splitBlocks: boolean;
}

/**
 * The front of the run: reads the adapter's stream chunk by chunk and admits each under the in-flight cap. A block
 * of lines goes to the dispatcher whole, deliveries through the intake, never more than the cap has room for;
 * deliveries the transport took back meanwhile are dropped. Reading goes on in the same turn while there is room,
 * and waits for something to settle only at the cap.
 */
export class Feed<M extends Message<unknown>> {
  readonly #options: FeedOptions<M>;
  /** Running blocks whose blank lines were already taken out of `received` (a give-up counts them early). */
  readonly #counted = new WeakSet<LineBlock>();

  constructor(options: FeedOptions<M>) {
    this.#options = options;
  }

  /** Reads until the stream ends or the run stops; a failing stream fails the run. Destroys the stream after. */
  async run(readable: Readable): Promise<void> {
    const { stats, shutdown } = this.#options;
    const reader = new ChunkReader<Delivery[] | LineBlock>(readable);
    try {
      for (;;) {
        const chunk = reader.next();
        if (chunk === undefined) {
          await reader.ready();
          continue;
        }
        if (chunk === ENDED) break;
        stats.noteRead();
        const waiting = isLineBlock(chunk) ? this.#admitBlock(chunk) : this.#admitDeliveries(chunk);
        if (waiting) await waiting;
        if (shutdown.stopping || shutdown.gaveUp || shutdown.failed) break;
      }
    } catch (error) {
      shutdown.fail(error, []);
    } finally {
      reader.close();
    }
    this.#options.dispatcher.flush();
  }

  /** A block was answered (or lost): it no longer counts as a block, and its messages, until settled, as messages. */
  releaseBlock(block: LineBlock, messages: number): void {
    this.countBlank(block, messages);
    this.#options.admission.releaseBlock(block.lines);
    // A block of blank lines settles nothing, yet it may be the last thing a drain waits for.
    this.#options.shutdown.progress();
  }

  /** Takes a block's blank lines out of `received`, once: they were counted as messages until now. */
  countBlank(block: LineBlock, messages: number): void {
    if (this.#counted.has(block)) return;
    this.#counted.add(block);
    this.#options.stats.received -= block.lines - messages;
  }

  /** Waits until the cap has room (or the run stops); false when the run stopped meanwhile. */
  async #waitForRoom(): Promise<boolean> {
    const { dispatcher, admission, shutdown } = this.#options;
    // Nothing more is read until something settles: a partial batch must not sit out its linger.
    dispatcher.flush();
    await admission.waitForRoom();
    return !(shutdown.stopping || shutdown.gaveUp);
  }

  /** Returns a promise only when the block has to wait for room. */
  #admitBlock(block: LineBlock): Promise<void> | undefined {
    if (this.#options.splitBlocks) return this.#admitDeliveries(deliveriesOfBlock(block));
    if (!this.#options.admission.hasRoomForBlock(block.lines)) return this.#admitBlockLater(block);
    this.#takeBlock(block);
    return undefined;
  }

  async #admitBlockLater(block: LineBlock): Promise<void> {
    while (!this.#options.admission.hasRoomForBlock(block.lines)) if (!(await this.#waitForRoom())) return;
    this.#takeBlock(block);
  }

  #takeBlock(block: LineBlock): void {
    // Counted by its lines until the answer says how many were blank.
    this.#options.stats.received += block.lines;
    this.#options.admission.takeBlock(block.lines);
    this.#options.dispatcher.pushBlock(block);
  }

  /**
   * A chunk can hold thousands of short lines: take only as many as the cap has room for, then wait. Returns a
   * promise only when it has to wait: most chunks fit, and are taken in the reader's turn.
   */
  #admitDeliveries(chunk: readonly Delivery[]): Promise<void> | undefined {
    chunk = this.#held(chunk, 0);
    if (chunk.length <= this.#options.admission.roomForMessages()) {
      if (chunk.length > 0) this.#options.intake.accept(chunk);
      return undefined;
    }
    return this.#admitDeliveriesLater(chunk);
  }

  async #admitDeliveriesLater(chunk: readonly Delivery[]): Promise<void> {
    const { admission, intake } = this.#options;
    for (let start = 0; start < chunk.length;) {
      const room = admission.roomForMessages();
      if (room <= 0) {
        if (!(await this.#waitForRoom())) {
          const rest = this.#held(chunk, start);
          return this.#notAdmitted(rest === chunk ? chunk.slice(start) : rest);
        }
        // While it waited, a lost connection may have taken back the rest.
        const rest = this.#held(chunk, start);
        if (rest !== chunk) [chunk, start] = [rest, 0];
        continue;
      }
      const end = Math.min(chunk.length, start + room);
      intake.accept(start === 0 && end === chunk.length ? chunk : chunk.slice(start, end));
      start = end;
    }
  }

  /**
   * Deliveries read from the stream and left out by a run that stopped: handed back to an adapter that accounts for
   * them (`leftUnread`), else counted as read and nacked where the transport can deliver them again, else counted
   * unsettled (and named, where they have ids); never lost without a trace.
   */
  #notAdmitted(rest: readonly Delivery[]): void {
    if (rest.length === 0) return;
    const { adapter, stats, settler } = this.#options;
    if (adapter.leftUnread) return adapter.leftUnread(rest);
    stats.received += rest.length;
    if (adapter.canRequeue) return settler.nack(rest);
    stats.unsettled += rest.length;
    stats.noteUnsettled(rest.flatMap((delivery) => (delivery.id === undefined ? [] : [delivery.id])));
  }

  /**
   * `chunk` itself when none from `start` on was taken back by the transport (`Adapter.revoked`); else those from
   * `start` on that were not. The ones taken back count as read, and as requeued by the broker.
   */
  #held(chunk: readonly Delivery[], start: number): readonly Delivery[] {
    const { adapter } = this.#options;
    if (!adapter.revoked) return chunk;
    let i = start;
    while (i < chunk.length && !adapter.revoked(chunk[i]!)) i++;
    if (i === chunk.length) return chunk;
    const kept = chunk.slice(start, i);
    const dropped: Delivery[] = [];
    for (; i < chunk.length; i++) (adapter.revoked(chunk[i]!) ? dropped : kept).push(chunk[i]!);
    this.#options.stats.received += dropped.length;
    this.#options.settler.requeuedByBroker(dropped);
    return kept;
  }
}
