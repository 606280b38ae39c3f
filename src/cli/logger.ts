import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Fingerprint } from '../dlq/dlq.js';
import type { Log, LogLevel } from '../log.js';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * The CLI's logger: JSON lines on stderr (pretty when stderr is a terminal), labelled with the processor's
 * fingerprint so lines from many processes can be told apart.
 */
export async function createLogger(level: LogLevel, fingerprint: Fingerprint): Promise<{ logger: Logger; log: Log }> {
  // A terminal that closed (EIO) or a log reader that went away (EPIPE) must not end a run before it drains and
  // writes its stats file: what it would have written to stderr is lost, as nothing is left to read it.
  process.stderr.on('error', () => {});
  // Loaded only for a person at a terminal: it costs a fifth of a second of start-up.
  const destination = process.stderr.isTTY
    ? (await import('pino-pretty')).default({
        destination: lineClearing(),
        sync: true,
        ignore: 'pid,hostname,processor,version',
      })
    : pino.destination({ fd: 2, sync: true }).on('error', () => {});
  const logger = pino(
    {
      level,
      base: { processor: fingerprint.name, host: fingerprint.host, pid: fingerprint.pid, version: fingerprint.version },
    },
    destination,
  );
  const log: Log = (lvl, message, fields) => logger[lvl](fields ?? {}, message);
  return { logger, log };
}

/**
 * Standard error for log lines on a terminal: each line first clears the line it starts on, where the progress
 * display (see report.ts) may stand unfinished, so the log line is not glued to it; the progress redraws below.
 */
function lineClearing(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        writeSync(2, `\r\x1b[K${chunk.toString()}`);
      } catch {
        // The terminal is gone (see createLogger).
      }
      callback();
    },
  });
}
