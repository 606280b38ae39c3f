import type { Message } from '../message.js';
import type { LineBlock } from '../line-block.js';
import type { BlockResult } from './block.js';
import type { BatchResult, RunItem } from './runtime.js';

/**
 * Where routed messages run: in worker threads (`PoolExecutor`) or in the calling thread (`InlineExecutor`,
 * `threads: 0`). The pipeline does not know which.
 */
export interface Executor<M extends Message<unknown>> {
  /** Runs a batch and resolves with one outcome per message, in order. Never rejects for a handler's failure. */
  run(items: readonly RunItem<M>[]): Promise<BatchResult>;
  /**
   * Splits a block of lines into messages, routes and runs them, and resolves with the count and whatever is not
   * a plain ack. Never rejects for a handler's failure.
   */
  runBlock(block: LineBlock): Promise<BlockResult>;
  /** Errors from work handlers started and did not await, caught so far in every thread (see stray-errors.ts). */
  readonly unhandledErrors: number;
  /** Runs `afterProcessing` where processing started, then releases the threads. */
  close(): Promise<void>;
}
