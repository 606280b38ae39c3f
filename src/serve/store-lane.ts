import type { Fingerprint } from '../dlq/dlq.js';
import { openSharedStore, type SharedStore } from '../dlq/shared-access.js';

/**
 * The page's access to the dead-letter file, one request at a time, each with the store opened for it and closed
 * after. A server that kept the file open would hold DuckDB's lock for as long as it runs and shut a starting
 * `missive run` out of the file; opened per request, it takes the lock only for the length of a query, as a
 * `missive dlq` command does, and reaches a running processor through its socket (see shared-access.ts).
 * One at a time, because DuckDB opens a file once per process.
 */
export class StoreLane {
  readonly #path: string;
  readonly #fingerprint: Fingerprint | undefined;
  #lane: Promise<unknown> = Promise.resolve();

  constructor(path: string, fingerprint?: Fingerprint) {
    this.#path = path;
    this.#fingerprint = fingerprint;
  }

  /** Runs `task` with the store, after every task queued before it; `write` for purge and replay. */
  use<T>(task: (store: SharedStore) => Promise<T>, write = false): Promise<T> {
    const run = this.#lane.then(async () => {
      const store = await openSharedStore(this.#path, {
        write,
        ...(write && this.#fingerprint ? { fingerprint: this.#fingerprint } : {}),
      });
      try {
        return await task(store);
      } finally {
        await store.close();
      }
    });
    this.#lane = run.catch(() => {});
    return run;
  }

  /** Resolves once every queued task has finished. */
  async idle(): Promise<void> {
    await this.#lane;
  }
}
