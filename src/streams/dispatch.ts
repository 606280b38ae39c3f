import type { Delivery } from '../delivery.js';
import type { Message } from '../message.js';
import type { LineBlock } from '../line-block.js';
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

  constructor(options: {
    executor: Executor<M>;
    batchSize: number;
    lingerMs: number;
    onResult: (batch: Batch<M>, result: BatchResult) => void;
    /** The executor could not run the batch at all (a worker's setup failed). */
    onError: (batch: Batch<M>, error: unknown) => void;
    onBlockResult: (block: LineBlock, result: BlockResult) => void;
    onBlockError: (block: LineBlock, error: unknown) => void;
  }) {
    this.#executor = options.executor;
    this.#batchSize = options.batchSize;
    this.#lingerMs = options.lingerMs;
    this.#onResult = options.onResult;
    this.#onError = options.onError;
    this.#onBlockResult = options.onBlockResult;
    this.#onBlockError = options.onBlockError;
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
    this.#track(this.#running, batch, this.#executor.run(batch.items), this.#onResult, this.#onError);
  }

  /** Keeps `work` in `running` until its answer has been handed on, then wakes `idle()` if nothing is left. */
  #track<W, R>(
    running: Set<W>,
    work: W,
    answer: Promise<R>,
    onResult: (work: W, result: R) => void,
    onError: (work: W, error: unknown) => void,
  ): void {
    running.add(work);
    answer
      .then(
        (result) => onResult(work, result),
        (error: unknown) => onError(work, error),
      )
      .finally(() => {
        running.delete(work);
        if (this.#running.size === 0 && this.#runningBlocks.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  /** Batches sent and not finished: what a forced shutdown gives back to the transport. */
  get running(): ReadonlySet<Batch<M>> {
    return this.#running;
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
