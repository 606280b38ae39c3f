import { describe } from '../errors.js';
import type { Log } from '../log.js';
import type { Message } from '../message.js';
import type { Executor } from '../workers/executor.js';
import type { PoolExecutor } from '../workers/pool.js';

/**
 * How long the threads may take for `afterProcessing` once the drain timeout gave up on the messages in flight:
 * longer than a worker waits for the others to take their stop tasks (5 s), so an idle worker runs its hooks.
 */
const AFTER_PROCESSING_GRACE_MS = 6000;

/**
 * Ends the threads after a drain timeout, running `afterProcessing` (close pools, flush buffers) where it can: in
 * the calling thread with `threads: 0`, where a stuck handler is only a pending promise, and in the workers when
 * none is still in a handler (`busy` false). A worker stuck in one cannot take another task (Piscina runs one at a
 * time), so then the workers are ended without it, as waiting could not help.
 */
export async function closeAfterGivingUp<M extends Message<unknown>>(
  executor: Executor<M>,
  pool: PoolExecutor<M> | undefined,
  busy: boolean,
  log: Log,
): Promise<void> {
  if (pool && busy) {
    log('warn', 'afterProcessing did not run in the worker threads: a handler is still running in one');
    await pool.destroy();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const closed = executor.close().then(
    () => true,
    (error: unknown) => {
      log('warn', 'afterProcessing failed after the drain timeout', { error: describe(error) });
      return true;
    },
  );
  const timedOut = new Promise<boolean>(
    (resolve) => (timer = setTimeout(() => resolve(false), AFTER_PROCESSING_GRACE_MS)),
  );
  if (!(await Promise.race([closed, timedOut]))) {
    log(
      'warn',
      `afterProcessing did not finish within ${AFTER_PROCESSING_GRACE_MS} ms of the drain timeout; threads still in a handler were ended`,
    );
  }
  clearTimeout(timer);
  await pool?.destroy();
}
