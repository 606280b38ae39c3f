// Polling for a condition, for tests that wait on another process: no fixed sleeps.
import { sleep } from './http-clients.js';

/** Resolves once `condition()` (sync or async) is truthy; rejects naming `what` after `timeoutMs`. */
export async function until(condition, what, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
