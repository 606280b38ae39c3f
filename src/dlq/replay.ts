import { DlqSourceAdapter } from '../adapters/dlq-source.js';
import type { Message } from '../message.js';
import type { Processor } from '../processor.js';
import { run, type Running, type RunOptions } from '../run.js';
import type { Dlq, DlqFilter } from './dlq.js';

/** Options of {@link replayDeadLetters}: which letters, and the {@link run} options to run them with. */
export interface ReplayOptions extends Omit<RunOptions, 'adapter' | 'dlq'> {
  /** Which letters to replay. Default: all of them. */
  readonly filter?: DlqFilter;
  /** The most letters to replay. Default: every selected letter. */
  readonly limit?: number;
}

/**
 * Runs the selected dead letters through the processor's handlers again, as a run of its own: letters that are
 * handled leave the store, letters that fail again stay, with one more attempt and their new reason. Resolves
 * with the {@link Running} run: await its `done` for the figures (received: replayed, acked: handled,
 * deadLettered: failed again), or `stop()` it; letters not read yet stay as they were.
 */
export function replayDeadLetters<M extends Message<unknown>>(
  dlq: Dlq,
  processor: Processor<M>,
  options: ReplayOptions = {},
): Promise<Running> {
  const { filter, limit, ...rest } = options;
  return run(processor, { ...rest, adapter: new DlqSourceAdapter(dlq, { filter, limit }), dlq });
}
