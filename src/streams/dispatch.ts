import type { Delivery } from '../delivery.js';
import type { Message } from '../message.js';
import { idsInBlock, type LineBlock } from '../line-block.js';
import type { BlockResult } from '../workers/block.js';
import type { Executor } from '../workers/executor.js';
import type { BatchResult, RunItem } from '../workers/runtime.js';

/** A batch on its way to the executor, with the deliveries its results settle. */
export interface Batch<M extends Message<unknown>> {
  readonly deliveries: Delivery[];
  readonly items: RunItem<M>[];
}

/**
 * Hands work to the executor: blocks of lines as they come, and messages grouped into batches, a full batch at
 * once and a partial one after a short linger, so a trickle of messages is not held back waiting for company.
 *
 * For a transport that can take deliveries back (`revoked`: a lost AMQP channel), batches wait here rather than in
 * the executor's queue, at most `maxRunning` running, and each leaves without the deliveries taken back meanwhile:
 * those never reach a handler, and the deliveries of the new channel are not held up behind them.
 */
export class Dispatcher<M extends Message<unknown>> {
  readonly #executor: Executor<M>;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #onResult: (batch: Batch<M>, result: BatchResult) => void;
  readonly #onError: (batch: Batch<M>, error: unknown) => void;
  readonly #onBlockResult: (block: LineBlock, result: BlockResult) => void;
  readonly #onBlockError: (block: LineBlock, error: unknown) => void;
  readonly #runningBlocks = new Set<LineBlock>();
  #current: Batch<M> = { deliveries: [], items: [] };
  #timer: NodeJS.Timeout | undefined;
  readonly #running = new Set<Batch<M>>();
  #idle: (() => void)[] = [];
  readonly #revoked: ((delivery: Delivery) => boolean) | undefined;
  readonly #onRevoked: (deliveries: Delivery[]) => void;
  readonly #maxRunning: number;
  /** Batches waiting for the executor to have room (only with `revoked`). */
  readonly #waiting: Batch<M>[] = [];

  constructor(options: {
    executor: Executor<M>;
    batchSize: number;
    lingerMs: number;
    onResult: (batch: Batch<M>, result: BatchResult) => void;
    /** The executor could not run the batch at all (a worker's setup failed). */
    onError: (batch: Batch<M>, error: unknown) => void;
    onBlockResult: (block: LineBlock, result: BlockResult) => void;
    onBlockError: (block: LineBlock, error: unknown) => void;
    /** Whether the transport took a delivery back by itself; those are dropped before they run. */
    revoked?: (delivery: Delivery) => boolean;
    /** Receives the deliveries dropped that way. */
    onRevoked?: (deliveries: Delivery[]) => void;
    /** With `revoked`: how many batches may run at once (one per worker); the rest wait here. Default: no limit. */
    maxRunning?: number;
  }) {
    this.#executor = options.executor;
    this.#batchSize = options.batchSize;
    this.#lingerMs = options.lingerMs;
    this.#onResult = options.onResult;
    this.#onError = options.onError;
    this.#onBlockResult = options.onBlockResult;
    this.#onBlockError = options.onBlockError;
    this.#revoked = options.revoked;
    this.#onRevoked = options.onRevoked ?? (() => {});
    this.#maxRunning = options.maxRunning ?? Infinity;
  }

  /** Sends a block of lines to the executor, which splits it where its handlers run. */
  pushBlock(block: LineBlock): void {
    this.#track(this.#runningBlocks, block, this.#executor.runBlock(block), this.#onBlockResult, this.#onBlockError);
  }

  push(delivery: Delivery, item: RunItem<M>): void {
    const batch = this.#current;
    batch.deliveries.push(delivery);
    batch.items.push(item);
    if (batch.items.length >= this.#batchSize) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#lingerMs);
  }

  /** Sends the partial batch now. */
  flush(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#current;
    if (batch.items.length === 0) return;
    this.#current = { deliveries: [], items: [] };
    if (!this.#revoked) {
      this.#start(batch);
      return;
    }
    this.#waiting.push(batch);
    this.#startWaiting();
  }

  #start(batch: Batch<M>): void {
    this.#track(this.#running, batch, this.#executor.run(batch.items), this.#onResult, this.#onError);
  }

  /** Starts waiting batches while fewer than `maxRunning` run, each without its deliveries taken back. */
  #startWaiting(): void {
    while (this.#waiting.length > 0 && this.#running.size < this.#maxRunning) {
      const batch = this.#withoutRevoked(this.#waiting.shift()!);
      if (batch.items.length > 0) this.#start(batch);
    }
  }

  #withoutRevoked(batch: Batch<M>): Batch<M> {
    const revoked = this.#revoked!;
    if (!batch.deliveries.some(revoked)) return batch;
    const kept: Batch<M> = { deliveries: [], items: [] };
    const dropped: Delivery[] = [];
    batch.deliveries.forEach((delivery, i) => {
      if (revoked(delivery)) dropped.push(delivery);
      else {
        kept.deliveries.push(delivery);
        kept.items.push(batch.items[i]!);
      }
    });
    this.#onRevoked(dropped);
    return kept;
  }

  /**
   * Keeps `work` in `running` until its answer comes; then starts what waits for room, hands the answer on, and
   * wakes `idle()` if nothing is left.
   */
  #track<W, R>(
    running: Set<W>,
    work: W,
    answer: Promise<R>,
    onResult: (work: W, result: R) => void,
    onError: (work: W, error: unknown) => void,
  ): void {
    running.add(work);
    // The next waiting batch starts before this one's answer is handed on, so its worker does not wait for that.
    const next = () => {
      running.delete(work);
      if (this.#waiting.length > 0) this.#startWaiting();
    };
    answer
      .then(
        (result) => {
          next();
          onResult(work, result);
        },
        (error: unknown) => {
          next();
          onError(work, error);
        },
      )
      .finally(() => {
        running.delete(work);
        if (this.#running.size === 0 && this.#runningBlocks.size === 0)
          for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  /** Ids of the messages in batches and blocks still running or waiting to be sent, in dispatch order. */
  runningIds(): string[] {
    const ids: string[] = [];
    for (const batch of [...this.#running, ...this.#waiting, this.#current])
      for (const item of batch.items) ids.push(item.message.id);
    for (const block of this.#runningBlocks) idsInBlock(block, ids);
    return ids;
  }

  /** Batches sent or waiting to be, and not finished: what a forced shutdown gives back to the transport. */
  get running(): ReadonlySet<Batch<M>> {
    return this.#waiting.length === 0 ? this.#running : new Set([...this.#running, ...this.#waiting]);
  }

  /** Blocks sent and not answered. */
  get runningBlocks(): ReadonlySet<LineBlock> {
    return this.#runningBlocks;
  }

  /** Resolves when no batch or block is running. */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#runningBlocks.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
