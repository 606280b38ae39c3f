import type { Dlq, DlqFilter } from '../dlq/dlq.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import type { Message } from '../message.js';
import type { Processor } from '../processor.js';
import { replayDeadLetters } from '../dlq/replay.js';
import type { RunStats } from '../streams/stats.js';
import { createLogger } from './logger.js';

/** What `missive dlq replay` runs. */
export interface ReplayOptions {
  /** The store read from and written back to: a letter that fails again must update its own row. */
  readonly dlq: Dlq;
  readonly processor: Processor<Message<unknown>>;
  /** The processor module's URL, for worker threads. */
  readonly moduleUrl: string;
  readonly filter: DlqFilter;
  /** The most letters to replay; undefined for every selected letter. */
  readonly limit: number | undefined;
  readonly threads: number;
}

/**
 * Runs the selected dead letters through the processor, as `missive run` would run messages from a transport:
 * handled letters leave the store, letters that fail again stay with one more attempt and the new reason.
 * The first SIGINT or SIGTERM stops reading and finishes what is in flight; letters not read stay as they were.
 */
export async function replay(options: ReplayOptions): Promise<RunStats> {
  const { dlq, processor } = options;
  // Warnings only: one line per letter that fails again, with its reason and error, on stderr.
  const { log } = await createLogger('warn', fingerprintOf(processor.name, processor.version));
  const pipeline = await replayDeadLetters(dlq, processor, {
    filter: options.filter,
    limit: options.limit,
    module: options.moduleUrl,
    threads: options.threads,
    logger: log,
  });
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`missive: ${signal}: stopping the replay; letters not read yet stay in the store\n`);
    void pipeline.stop().catch(() => {});
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await pipeline.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The one-line summary: `replayed N: H handled, F failed again`, and anything left unsettled. */
export function replaySummary(stats: RunStats): string {
  const unsettled = stats.unsettled > 0 ? `, ${stats.unsettled} not settled (still in the store as they were)` : '';
  return `replayed ${stats.received}: ${stats.acked} handled, ${stats.deadLettered} failed again${unsettled}`;
}
