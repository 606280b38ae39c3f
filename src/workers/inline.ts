import type { Message } from '../message.js';
import type { Processor } from '../processor.js';
import type { Executor } from './executor.js';
import { ThreadRuntime, type BatchResult, type RunItem, type Warning } from './runtime.js';

/**
 * Runs handlers in the calling thread (`threads: 0`): no copying, no thread hops. Right for I/O-bound handlers,
 * where a worker would only add latency, and for tests.
 */
export class InlineExecutor<M extends Message<unknown>> implements Executor<M> {
  readonly #runtime: ThreadRuntime<M>;

  constructor(processor: Processor<M>, onLateWarning: (warning: Warning) => void, defaultTimeoutMs = 0, measure = false) {
    this.#runtime = new ThreadRuntime(processor, 0, onLateWarning);
    this.#runtime.defaultTimeoutMs = defaultTimeoutMs;
    this.#runtime.measure = measure;
  }

  /** Runs `beforeProcessing`, so a failing hook stops the run before any input is read. */
  async start(): Promise<void> {
    await this.#runtime.start();
  }

  async run(items: readonly RunItem<M>[]): Promise<BatchResult> {
    return this.#runtime.runBatch(items);
  }

  async close(): Promise<void> {
    await this.#runtime.stop();
  }
}
