import type { Dlq } from '../dlq/dlq.js';
import { replayDeadLetters } from '../dlq/replay.js';
import type { LoadedProcessor } from '../processor.js';
import type { Log } from '../log.js';
import { KeySetDlq } from './key-set-dlq.js';

/** What a replay did: `replayed` letters read, `handled` left the store, `failedAgain` stayed with a new attempt. */
export interface ReplayOutcome {
  readonly replayed: number;
  readonly handled: number;
  readonly failedAgain: number;
  readonly unsettled: number;
}

/** Runs the letters with these keys through the processor's handlers, in this thread, as `missive dlq replay` does. */
export async function replayKeys(
  store: Dlq,
  loaded: LoadedProcessor,
  keys: readonly string[],
  log?: Log,
): Promise<ReplayOutcome> {
  const running = await replayDeadLetters(new KeySetDlq(store, keys), loaded.processor, {
    threads: 0,
    module: loaded.url,
    ...(log ? { logger: log } : {}),
  });
  const stats = await running.done;
  return {
    replayed: stats.received,
    handled: stats.acked,
    failedAgain: stats.deadLettered,
    unsettled: stats.unsettled,
  };
}

/** Keys per delete: bounds one request to a running processor. */
const DELETE_CHUNK = 1000;

/** Deletes the letters with these keys, exactly those; resolves with how many existed. */
export async function purgeKeys(store: Dlq, keys: readonly string[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < keys.length; i += DELETE_CHUNK) deleted += await store.delete(keys.slice(i, i + DELETE_CHUNK));
  return deleted;
}
