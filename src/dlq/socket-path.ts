import { createHash } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DlqError } from '../errors.js';

/** Unix socket paths are limited to 108 bytes (107 and the NUL) on Linux. */
const MAX_SOCKET_PATH = 107;

/**
 * The socket on which the process that holds a dead-letter file answers for it: named by a digest of the file's
 * real path (any path to the same file finds the same socket), in a directory of this user's that nobody else can
 * enter, under the temporary directory (or /tmp when that one is too deep for a socket path).
 */
export function socketPathFor(realPath: string): string {
  const name = `dlq-${createHash('sha256').update(realPath).digest('hex').slice(0, 24)}.sock`;
  const inTmp = join(socketDirectory(tmpdir()), name);
  return Buffer.byteLength(inTmp) <= MAX_SOCKET_PATH ? inTmp : join(socketDirectory('/tmp'), name);
}

function socketDirectory(base: string): string {
  return join(base, `missive-${process.getuid?.() ?? 'user'}`);
}

/**
 * Makes the socket's directory (mode 0700) and checks that it is ours and closed to others, so that no other
 * user can put a socket of theirs in our place or connect to ours in the moment before its mode is set.
 */
export async function ensureSocketDirectory(socketPath: string): Promise<void> {
  const dir = socketPath.slice(0, socketPath.lastIndexOf('/'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  const uid = process.getuid?.();
  if (!info.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0) {
    throw new DlqError(
      `${dir} is not a private directory of this user (it must be a directory owned by uid ${uid} with mode 0700); ` +
        'remove it, and missive creates it again',
    );
  }
}
