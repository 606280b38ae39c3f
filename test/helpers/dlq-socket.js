// Where a `missive run` answers for its dead-letter store, for tests that give it a TMPDIR of their own.
import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketPathFor } from '../../dist/dlq/socket-path.js';

/** A directory of its own to be TMPDIR (short enough for socket paths), so these sockets meet no other test's. */
export function privateTmp(t, mode = 0o700) {
  const dir = mkdtempSync(join(tmpdir(), 'msk-'));
  if (mode !== 0o700) chmodSync(dir, mode);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The socket that a process with TMPDIR=`tmp` answers on for the file at `path`. */
export function socketIn(tmp, path) {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    return socketPathFor(realpathSync(path));
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}
