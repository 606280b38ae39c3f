import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Fingerprint } from './dlq.js';

/** This package's version, for fingerprints: which build wrote a dead letter matters when replaying it. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Who is writing: the processor's name and version (missive-node's when it has none), this host and process. */
export function fingerprintOf(name: string, version: string = VERSION): Fingerprint {
  return { name, host: hostname(), pid: process.pid, version };
}
