import type { DeadLetterInput } from '../dlq/dlq.js';

/**
 * Where the pipeline reports outcomes as they happen, for an embedder's telemetry (see `run`'s events). Called per
 * batch, after the counters; each call must be cheap, as it runs on the main thread.
 */
export interface OutcomeEvents {
  acked(count: number): void;
  nacked(count: number): void;
  /** After the letter was stored. */
  deadLettered(letter: DeadLetterInput): void;
  retrying(event: { id: string; handler: string; attempt: number; delayMs: number }): void;
}
