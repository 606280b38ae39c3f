import type { Message } from '../message.js';
import type { Processor } from '../processor.js';
import type { LineBlock } from '../line-block.js';
import { runBlock, type BlockResult } from './block.js';
import type { Executor } from './executor.js';
import { isConfidential } from '../confidential.js';
import { StrayErrorCatcher, type StrayError } from './stray-errors.js';
import { ThreadRuntime, type BatchResult, type RunItem, type Warning } from './runtime.js';

/**
 * Runs handlers in the calling thread (`threads: 0`): no copying, no thread hops. Right for I/O-bound handlers,
 * where a worker would only add latency, and for tests.
 */
export class InlineExecutor<M extends Message<unknown>> implements Executor<M> {
  readonly #runtime: ThreadRuntime<M>;

  readonly #batchSize: number;
  #unhandledErrors = 0;
  readonly #strays: StrayErrorCatcher;

  /**
   * @param onStrayError receives each error from work a handler did not await; without this executor they would
   *   end the process (see stray-errors.ts). Caught from construction until `close()`.
   */
  constructor(
    processor: Processor<M>,
    onLateWarning: (warning: Warning) => void,
    options: {
      defaultTimeoutMs?: number;
      measure?: boolean;
      batchSize?: number;
      onStrayError?: (stray: StrayError) => void;
    } = {},
  ) {
    const { defaultTimeoutMs = 0, measure = false, batchSize = 1000, onStrayError } = options;
    const untiedIsConfidential = isConfidential(processor, null);
    this.#strays = new StrayErrorCatcher(
      (stray) => {
        this.#unhandledErrors++;
        onStrayError?.(stray);
      },
      () => untiedIsConfidential,
    );
    this.#runtime = new ThreadRuntime(processor, 0, onLateWarning, this.#strays);
    this.#batchSize = batchSize;
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

  async runBlock(block: LineBlock): Promise<BlockResult> {
    return runBlock(this.#runtime, block, this.#batchSize);
  }

  get unhandledErrors(): number {
    return this.#unhandledErrors;
  }

  async close(): Promise<void> {
    try {
      await this.#runtime.stop();
    } finally {
      this.#strays.stop();
    }
  }
}
