import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Unix socket paths are limited to 108 bytes (107 and the NUL) on Linux. */
const MAX_SOCKET_PATH = 107;

/**
 * The socket on which the process that holds a dead-letter file answers for it: named by a digest of the file's
 * real path (any path to the same file finds the same socket), in a directory of this user's that nobody else can
 * enter (checked by socket-dir-check.ts), under the temporary directory (or /tmp when that one is too deep for a
 * socket path).
 */
export function socketPathFor(realPath: string): string {
  const name = `dlq-${createHash('sha256').update(realPath).digest('hex').slice(0, 24)}.sock`;
  const inTmp = join(socketDirectory(tmpdir()), name);
  return Buffer.byteLength(inTmp) <= MAX_SOCKET_PATH ? inTmp : join(socketDirectory('/tmp'), name);
}

function socketDirectory(base: string): string {
  return join(base, `missive-${process.getuid?.() ?? 'user'}`);
}
