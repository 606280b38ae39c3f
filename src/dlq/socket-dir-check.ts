import { lstat, mkdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { DlqSocketUnsafeError, MissiveError, describe } from '../errors.js';
import type { Log } from '../log.js';

/**
 * The one rule for the place where a process answers for a dead-letter store (see shared-access.ts), checked by
 * the server before it listens and by every client before it connects: the directory is a real directory (not a
 * symlink) owned by this user that nobody else may enter (no group or other bits: 0700), and the socket in it is a
 * socket owned by this user. A directory that passes cannot get anybody else's socket, since only its owner (and
 * root) can write to it; /tmp's sticky bit keeps others from renaming it away.
 */

/** This process's user id; undefined where there is none (Windows), and nothing to check. */
const uid = (): number | undefined => process.getuid?.();

/** Creates the socket's directory (mode 0700) unless it exists, then checks it; throws `DlqSocketUnsafeError`. */
export async function ensureSocketDirectory(socketPath: string): Promise<void> {
  const dir = dirname(socketPath);
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  checkDirectory(dir, await lstat(dir));
}

/**
 * Whether a socket to connect to is there, for a client: false when the directory or the socket is missing
 * (nobody serves); throws `DlqSocketUnsafeError` when either is there but fails the rule.
 */
export async function socketToTrust(socketPath: string): Promise<boolean> {
  const dir = dirname(socketPath);
  const dirInfo = await lstatIfAny(dir);
  if (!dirInfo) return false;
  checkDirectory(dir, dirInfo);
  const info = await lstatIfAny(socketPath);
  if (!info) return false;
  const me = uid();
  if (!info.isSocket()) throw new DlqSocketUnsafeError(socketPath, 'is not a socket');
  if (me !== undefined && info.uid !== me) {
    throw new DlqSocketUnsafeError(socketPath, `is owned by uid ${info.uid}, not by this user (uid ${me})`);
  }
  return true;
}

function checkDirectory(dir: string, info: Stats): void {
  const me = uid();
  if (me === undefined) return;
  if (info.isSymbolicLink()) throw new DlqSocketUnsafeError(dir, 'is a symbolic link, not a directory');
  if (!info.isDirectory()) throw new DlqSocketUnsafeError(dir, 'is not a directory');
  if (info.uid !== me) throw new DlqSocketUnsafeError(dir, `is owned by uid ${info.uid}, not by this user (uid ${me})`);
  if ((info.mode & 0o077) !== 0) {
    throw new DlqSocketUnsafeError(
      dir,
      `has mode 0${(info.mode & 0o777).toString(8)}, open to other users (it must be 0700)`,
    );
  }
}

async function lstatIfAny(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Says that the process holding the dead-letter file `path` cannot answer for it on its socket (the store works
 * on; only `missive dlq` commands cannot reach it): a warning in `log`, or a process warning without one.
 */
export function reportUnserved(path: string, error: unknown, log?: Log): void {
  const message = `missive dlq commands cannot reach ${path} while this process holds it: ${describe(error)}`;
  const code = error instanceof MissiveError ? error.code : 'MISSIVE_ERR_DLQ';
  if (log) log('warn', message, { code });
  else process.emitWarning(message, { code });
}
