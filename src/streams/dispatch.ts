import type { Delivery } from '../delivery.js';
import type { Message } from '../message.js';
import type { Executor } from '../workers/executor.js';
import type { BatchResult, RunItem } from '../workers/runtime.js';

/** A batch on its way to the executor, with the deliveries its results settle. */
export interface Batch<M extends Message<unknown>> {
  readonly deliveries: Delivery[];
  readonly items: RunItem<M>[];
}

/**
 * Groups routed messages into batches for the executor: a full batch goes at once, a partial one after a short
 * linger, so a trickle of messages is not held back waiting for company.
 */
export class Dispatcher<M extends Message<unknown>> {
  readonly #executor: Executor<M>;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #onResult: (batch: Batch<M>, result: BatchResult) => void;
  readonly #onError: (batch: Batch<M>, error: unknown) => void;
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
  }) {
    this.#executor = options.executor;
    this.#batchSize = options.batchSize;
    this.#lingerMs = options.lingerMs;
    this.#onResult = options.onResult;
    this.#onError = options.onError;
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
    this.#running.add(batch);
    this.#executor
      .run(batch.items)
      .then(
        (result) => this.#onResult(batch, result),
        (error: unknown) => this.#onError(batch, error),
      )
      .finally(() => {
        this.#running.delete(batch);
        if (this.#running.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  /** Batches sent and not finished: what a forced shutdown gives back to the transport. */
  get running(): ReadonlySet<Batch<M>> {
    return this.#running;
  }

  /** Resolves when no batch is running. */
  idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
