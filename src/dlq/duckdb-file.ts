import { constants } from 'node:fs';
import { access, open, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DlqError, DlqLockedError } from '../errors.js';

/** How long `missive run` waits at start for another process's write lock to go (a `missive dlq purge`). */
const START_WAIT_MS = 3000;

/**
 * Checks a dead-letter file before DuckDB opens it, for answers DuckDB does not give: a missing or read-only
 * location, a file that is not a DuckDB database, and (on Linux) a file another process holds open for writing,
 * named by its pid. `missive run` calls it before it opens the store, at start. A read lock is no reason to refuse:
 * `missive dlq` readers hold one for the length of a command, and the store's open waits for them. A write lock
 * held by a short command (`missive dlq purge`) is waited for a moment too; a running processor never lets go.
 */
export async function checkDuckDbFile(path: string): Promise<void> {
  const file = await realFile(path);
  await checkLocation(file);
  await checkHeader(file);
  const deadline = Date.now() + START_WAIT_MS;
  while ((await lockHolders(file)).some((holder) => holder.kind === 'WRITE')) {
    if (Date.now() > deadline) throw new DlqLockedError(file, { holders: writersOf(await lockHolders(file)) });
    await sleep(100);
  }
}

/**
 * The file a path names, symbolic links resolved, so DuckDB is given the path of the file itself: it keeps its
 * write-ahead log beside the file it opens, and the store's locked-down instance may touch no other path than the
 * one it was given and that log (through a link to a store, every open failed on the `.wal`). A link to a file
 * that does not exist yet names where to create it; a missing file, the real directory it would be created in.
 */
export async function realFile(path: string): Promise<string> {
  const file = resolve(path);
  try {
    return await realpath(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return file; // a loop, a denied directory: the checks say
  }
  const target = await readlink(file).catch(() => undefined);
  if (target !== undefined) return realFile(resolve(dirname(file), target));
  const dir = await realpath(dirname(file)).catch(() => undefined);
  return dir === undefined ? file : join(dir, basename(file));
}

/** The pids of the processes that hold the file for writing, each once. */
function writersOf(holders: readonly LockHolder[]): number[] {
  return [...new Set(holders.filter((holder) => holder.kind === 'WRITE').map((holder) => holder.pid))];
}

/** Fails with our own message, before DuckDB tries, when an existing file cannot be read where it is. */
export async function checkReadable(file: string): Promise<void> {
  const fileStat = await stat(file).catch(() => undefined);
  const cannot = (why: string) => new DlqError(`cannot read the dead-letter file ${file}: ${why}`);
  if (!fileStat) throw cannot('there is no such file; check the path (--dlq)');
  if (fileStat.isDirectory()) throw cannot('it is a directory; choose a file path');
  if (!(await allows(file, constants.R_OK))) throw cannot('it is not readable by this user; fix its permissions');
  await checkHeader(file);
}

/** Fails with our own message, before DuckDB tries, when the file cannot be created or written where it is. */
export async function checkLocation(file: string): Promise<void> {
  const dir = dirname(file);
  const cannot = (why: string, what: string) =>
    new DlqError(`cannot open the dead-letter file ${file}: ${why}; ${what}`);
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    throw cannot(
      `the directory ${dir} ${dirStat ? 'is not a directory' : 'does not exist'}`,
      `create it (mkdir -p ${dir}) or choose a path in an existing directory`,
    );
  }
  const fileStat = await stat(file).catch(() => undefined);
  if (fileStat?.isDirectory()) throw cannot('it is a directory', 'choose a file path');
  // DuckDB writes a write-ahead log beside the file, so the directory must be writable even when the file exists.
  const fix = `choose a writable path, or fix the permissions (DuckDB writes ${basename(file)} and its .wal)`;
  if (!(await allows(dir, constants.W_OK | constants.X_OK))) throw cannot(`the directory ${dir} is not writable`, fix);
  if (fileStat && !(await allows(file, constants.R_OK | constants.W_OK))) {
    throw cannot('the file is not writable', fix);
  }
}

function allows(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

/** A DuckDB database file starts with an 8-byte checksum and then the magic bytes `DUCK`. */
const MAGIC = Buffer.from('DUCK');
const MAGIC_OFFSET = 8;

/** Fails with our own message when an existing file is not a DuckDB database; DuckDB's own says less. */
export async function checkHeader(file: string): Promise<void> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return; // not there yet: DuckDB creates it
  try {
    const head = Buffer.alloc(MAGIC_OFFSET + MAGIC.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.subarray(MAGIC_OFFSET).equals(MAGIC)) {
      // DuckDB refuses an empty file too, so it gets the same answer.
      const what = bytesRead === 0 ? 'it is empty, not a DuckDB database' : 'it is not a DuckDB database';
      throw new DlqError(
        `cannot open the dead-letter file ${file}: ${what}; choose another path (the file is left alone)`,
      );
    }
  } finally {
    await handle.close();
  }
}

/** A lock another process holds on a file: DuckDB takes READ for a read-only open and WRITE otherwise. */
export interface LockHolder {
  readonly pid: number;
  readonly kind: 'READ' | 'WRITE';
}

/**
 * The locks other processes hold on the file, read from /proc/locks, where Linux lists every lock with the
 * holder's pid and the file's device and inode; elsewhere none are found and DuckDB itself reports a conflict.
 */
export async function lockHolders(file: string): Promise<LockHolder[]> {
  const info = await stat(file).catch(() => undefined);
  // No file, no lock; and /proc/locks is not read for nothing: the first read of it in a process took 13-23 ms on
  // this project's machines (whatever the API), a tenth of a run's start-up.
  if (!info) return [];
  const locks = await readFile('/proc/locks', 'utf8').catch(() => undefined);
  if (locks === undefined) return [];
  const major = (info.dev >> 8) & 0xfff;
  const minor = (info.dev & 0xff) | ((info.dev >> 12) & 0xfff00);
  const holders: LockHolder[] = [];
  for (const line of locks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 4242 fe:00:2146397 0 EOF"; lines with "->" are waiters, not holders.
    const fields = line.trim().split(/\s+/);
    if (fields[1] === '->') continue;
    const at = fields.findIndex((field) => /^[0-9a-f]+:[0-9a-f]+:\d+$/i.test(field));
    if (at < 2) continue;
    const [maj, min, inode] = fields[at]!.split(':');
    const pid = Number(fields[at - 1]);
    const kind = fields[at - 2];
    if (pid === process.pid || (kind !== 'READ' && kind !== 'WRITE')) continue;
    if (parseInt(maj!, 16) === major && parseInt(min!, 16) === minor && Number(inode) === info.ino) {
      holders.push({ pid, kind });
    }
  }
  return holders;
}
