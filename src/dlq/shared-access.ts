/**
 * How several processes use one dead-letter file.
 *
 * DuckDB locks a database file to one process: an exclusive (WRITE) lock for a read-write open, a shared (READ)
 * one for a read-only open, so readers can share it with each other but never with a writer. A long-running
 * `missive run` would thus shut every `missive dlq` command out of its file. Closing the file between commits
 * is no way around that (closing a 200k-row file checkpoints it, ~40 ms a commit), so instead:
 *
 * - The process that has the store open for writing (`DuckDbDlq.open`, also the lazy open at the first dead
 *   letter of `missive run`) answers on a Unix socket named by a digest of the file's real path, in a private
 *   directory of the user's (0700; the socket itself 0600); see socket-path.ts, socket-server.ts and wire.ts.
 *   Server and clients check that directory and socket with one rule (socket-dir-check.ts): a place that is not the
 *   user's own and private is neither served nor connected to, since another user could listen there. It
 *   serves count, list, get, lookup by id, pages of a scan, one read-only SQL query (on a fresh, locked-down
 *   connection of its own instance) and put and delete by key, the writes in the same lane as its own puts, so
 *   a `missive dlq purge` or `replay` against a running processor is as safe as the processor's own writes, and
 *   every read sees every letter committed so far. Letters are still committed before their messages are acked.
 * - A `missive dlq` command (`openSharedStore` below) first asks that socket; when nobody answers it opens the
 *   file itself, read-only for the read commands (so they need read access only) or for writing for purge and
 *   replay. A socket left by a crashed process is recognised by nobody answering on it, and replaced by the next
 *   writer (who holds the file's lock, so no live process can be serving it).
 * - The windows in which neither side holds the file, or the lock is held but nobody answers yet: a writer takes
 *   the lock before it listens, and stops listening before it lets the lock go; so a command that finds the lock
 *   taken and no answer tries both again, socket then file, for a bounded time (`waitMs`), and only then says who
 *   holds the file (from /proc/locks) and what to do. A writer that finds a reader's lock waits for it likewise
 *   (`lockWaitMs`, 10 s by default): readers hold the file for the length of one command. A command connected to
 *   a processor that then stops fails with a message that says to run it again (it then opens the file itself).
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DlqLockedError, DlqUnreachableError } from '../errors.js';
import type { Fingerprint } from './dlq.js';
import { lockHolders } from './duckdb-file.js';
import { DuckDbDlq } from './duckdb.js';
import type { PostgresDlq } from './postgres/postgres-store.js';
import { isPostgresUrl } from './postgres/postgres-url.js';
import { RemoteDlq } from './remote.js';
import { socketPathFor } from './socket-path.js';

/** Options of {@link openSharedStore}. */
export interface SharedStoreOptions {
  /** Whether the command changes the store (purge, replay). Default false: the file is opened read-only. */
  readonly write?: boolean;
  /** Written with letters put without a fingerprint, when the file is opened here. */
  readonly fingerprint?: Fingerprint;
  /** How long to keep trying while the file is locked and nobody answers for it. Default 5000 ms. */
  readonly waitMs?: number;
}

/** A store a command can use whoever holds the file: opened here, or reached through the process holding it. */
export type SharedStore = DuckDbDlq | RemoteDlq | PostgresDlq;

/** Opens an existing dead-letter file for one command (see the design above). */
export async function openSharedStore(path: string, options: SharedStoreOptions = {}): Promise<SharedStore> {
  // PostgreSQL serves any number of clients itself: no socket, no lock to wait for.
  if (isPostgresUrl(path)) {
    const { PostgresDlq } = await import('./postgres/postgres-store.js');
    return PostgresDlq.open(path, {
      readOnly: options.write !== true,
      ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
    });
  }
  const file = resolve(path);
  const real = await realpath(file);
  const socketPath = socketPathFor(real);
  const deadline = Date.now() + (options.waitMs ?? 5000);
  for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
    const remote = await RemoteDlq.connect(socketPath, real);
    if (remote) return remote;
    try {
      return await DuckDbDlq.open(file, {
        readOnly: options.write !== true,
        lockWaitMs: 0,
        ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
      });
    } catch (error) {
      if (!(error instanceof DlqLockedError)) throw error;
      if (Date.now() + pause > deadline) {
        const holders = [...new Set((await lockHolders(file)).map((holder) => holder.pid))];
        throw new DlqUnreachableError(file, holders, socketPath, { cause: error });
      }
    }
    await sleep(pause);
  }
}
