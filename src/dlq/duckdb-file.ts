import { constants } from 'node:fs';
import { access, open, readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { DlqError, DlqLockedError } from '../errors.js';

/**
 * Checks a dead-letter file without loading DuckDB, whose engine costs a run ~40 MB of memory even when no message
 * fails: so `missive run` can refuse a bad `--dlq` before reading any input, and open the store only at the first
 * dead letter. Finds what can be found from outside: a missing or read-only location, a file that is not a DuckDB
 * database, and (on Linux) a file another process holds open.
 */
export async function checkDuckDbFile(file: string): Promise<void> {
  await checkLocation(file);
  await checkHeader(file);
  if (await lockedByAnotherProcess(file)) throw new DlqLockedError(file);
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

async function checkHeader(file: string): Promise<void> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return; // not there yet: DuckDB creates it at the first dead letter
  try {
    const head = Buffer.alloc(MAGIC_OFFSET + MAGIC.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.subarray(MAGIC_OFFSET).equals(MAGIC)) {
      // DuckDB refuses an empty file too, so it gets the same answer.
      const what = bytesRead === 0 ? 'it is empty, not a DuckDB database' : 'it is not a DuckDB database';
      throw new DlqError(`cannot open the dead-letter file ${file}: ${what}; choose another path (the file is left alone)`);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Whether another process holds a lock on the file, as DuckDB does on a database it has open for writing. Read
 * from /proc/locks, where Linux lists every lock with the holder's pid and the file's device and inode; elsewhere
 * this says false and DuckDB itself reports the conflict when the store opens.
 */
async function lockedByAnotherProcess(file: string): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  const locks = await readFile('/proc/locks', 'utf8').catch(() => undefined);
  if (!info || locks === undefined) return false;
  const major = (info.dev >> 8) & 0xfff;
  const minor = (info.dev & 0xff) | ((info.dev >> 12) & 0xfff00);
  for (const line of locks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 4242 fe:00:2146397 0 EOF"; lines with "->" are waiters, not holders.
    const fields = line.trim().split(/\s+/);
    if (fields[1] === '->') continue;
    const at = fields.findIndex((field) => /^[0-9a-f]+:[0-9a-f]+:\d+$/i.test(field));
    if (at < 1) continue;
    const [maj, min, inode] = fields[at]!.split(':');
    if (Number(fields[at - 1]) === process.pid) continue;
    if (parseInt(maj!, 16) === major && parseInt(min!, 16) === minor && Number(inode) === info.ino) return true;
  }
  return false;
}
