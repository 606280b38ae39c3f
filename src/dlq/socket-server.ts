import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { DlqError, InvalidOptionError } from '../errors.js';
import type { DeadLetter, Dlq } from './dlq.js';
import type { ReadOnlySqlOptions, SqlResult } from './sql-sandbox.js';
import { FrameReader } from './frames.js';
import { ensureSocketDirectory } from './socket-dir-check.js';
import {
  MAX_REQUEST_BYTES,
  NO_REQUEST,
  decodeCursor,
  decodeFilter,
  decodeInput,
  encodeError,
  encodeLetter,
  parseRequest,
  type Hello,
  type Operation,
  type Operations,
  type PageCursor,
  type Response,
} from './wire.js';

/** What the server needs of the store it answers for: the Dlq, one SQL query, and pages in the store's order. */
export interface ServedStore extends Dlq {
  /** The real path of the file: clients check it, in case two files ever hashed to one socket. */
  readonly path: string;
  sql(query: string, options: ReadOnlySqlOptions): Promise<SqlResult>;
  page(after: PageCursor | null, limit: number): Promise<DeadLetter[]>;
}

/** A running server; `close` stops taking requests, lets those begun finish, and removes the socket. */
export interface StoreServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** The most letters one page request may ask for: the answer is one line of JSON. */
const MAX_PAGE = 1000;

/** Limits of {@link serveStore}: what one local process can make the server hold. */
export interface StoreServerLimits {
  /** The longest request line read; a longer one is answered with an error and its connection closed. */
  readonly maxRequestBytes?: number;
  /** Connections served at once; one more is answered with an error and closed at once. Default 64. */
  readonly maxConnections?: number;
  /** A connection without a request in flight for this long is closed. Default 30000 ms. */
  readonly idleMs?: number;
}

const DEFAULT_MAX_CONNECTIONS = 64;
const DEFAULT_IDLE_MS = 30_000;

/**
 * Answers other processes' requests for the store on a Unix socket (see wire.ts for the protocol and
 * shared-access.ts for the design), in a directory that passes socket-dir-check.ts, or not at all. A socket left
 * by a process that died is replaced: the caller holds the file's write lock, so no live process can be serving
 * this file. Every connection is bounded (see {@link StoreServerLimits}): a client that misbehaves loses its
 * connection, never the run.
 */
export async function serveStore(
  store: ServedStore,
  socketPath: string,
  limits: StoreServerLimits = {},
): Promise<StoreServer> {
  const maxRequestBytes = limits.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const maxConnections = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const idleMs = limits.idleMs ?? DEFAULT_IDLE_MS;
  const hello: Hello = { path: store.path, pid: process.pid, maxRequestBytes, idleMs };
  await ensureSocketDirectory(socketPath);
  const existing = await lstat(socketPath).catch(() => undefined);
  if (existing?.isSocket()) await unlink(socketPath);
  const sockets = new Set<Socket>();
  const inFlight = new Set<Promise<unknown>>();
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    if (sockets.size >= maxConnections) {
      hangUp(socket, `the process holding ${store.path} serves ${maxConnections} connections at once; try again`);
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const frames = new FrameReader(maxRequestBytes);
    let pending = 0;
    socket.setTimeout(idleMs, () => {
      if (pending === 0) hangUp(socket, `closed after ${idleMs} ms without a request`);
    });
    const onData = (chunk: Buffer) => {
      const { frames: lines, overflow } = frames.push(chunk);
      for (const line of lines) {
        pending++;
        const answer = answerLine(store, hello, line)
          .then((response) => {
            if (socket.writable) socket.write(`${JSON.stringify(response)}\n`);
          })
          // An answer that cannot be written (or serialised) costs its connection, never the run.
          .catch(() => socket.destroy())
          .finally(() => {
            pending--;
            inFlight.delete(answer);
          });
        inFlight.add(answer);
      }
      if (overflow) {
        socket.off('data', onData);
        hangUp(socket, `a request longer than ${maxRequestBytes} bytes; put fewer letters in one request`);
      }
    };
    socket.on('data', onData);
  });
  await listen(server, socketPath);
  // Serving others never keeps the process alive by itself: a run whose handler never settles must still reach
  // Node's beforeExit and say that it stalled, now that every run opens its store at start.
  server.unref();
  // The directory already keeps other users out; the mode says the same on the socket itself.
  await chmod(socketPath, 0o600);
  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.allSettled(inFlight);
        for (const socket of sockets) socket.destroy();
        await stopped;
        await unlink(socketPath).catch(() => {});
      })()),
  };
}

/** Says why in one last answer (belonging to no request), stops reading and closes the connection. */
function hangUp(socket: Socket, why: string): void {
  socket.pause();
  const last: Response = { n: NO_REQUEST, error: encodeError(new DlqError(why)) };
  if (socket.writable) socket.end(`${JSON.stringify(last)}\n`, () => socket.destroy());
  else socket.destroy();
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function answerLine(store: ServedStore, hello: Hello, line: string): Promise<Response> {
  const parsed = parseRequest(line);
  if ('refused' in parsed) return parsed.refused;
  const { n, op, args } = parsed.request;
  try {
    return { n, result: op === 'hello' ? hello : await perform(store, op, args) };
  } catch (error) {
    return { n, error: encodeError(error) };
  }
}

async function perform<O extends Operation>(
  store: ServedStore,
  op: O,
  args: Operations[O]['args'],
): Promise<Operations[Operation]['result']> {
  const a = args as Record<string, unknown>;
  switch (op) {
    case 'count':
      return store.count(decodeFilter(a['filter'] as never));
    case 'list':
      return (await store.list(decodeFilter(a['options'] as never))).map(encodeLetter);
    case 'get': {
      const letter = await store.get(text(a['keyOrId'], 'keyOrId'));
      return letter ? encodeLetter(letter) : null;
    }
    case 'findById':
      return (await store.findById(text(a['id'], 'id'))).map(encodeLetter);
    case 'oldest': {
      const letter = await store.oldest();
      return letter ? encodeLetter(letter) : null;
    }
    case 'page': {
      const limit = Math.min(MAX_PAGE, Math.max(1, Number(a['limit']) || MAX_PAGE));
      return (await store.page(decodeCursor((a['after'] ?? null) as never), limit)).map(encodeLetter);
    }
    case 'put':
      await store.put(array(a['letters'], 'letters').map((letter) => decodeInput(letter as never)));
      return null;
    case 'delete':
      return store.delete(array(a['keys'], 'keys').map((key) => text(key, 'key')));
    case 'sql':
      return store.sql(text(a['sql'], 'sql'), { reveal: a['reveal'] === true, builtIn: a['builtIn'] === true });
    default:
      throw new InvalidOptionError(`unknown operation ${String(op)}`);
  }
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidOptionError(`${what} must be a string`);
  return value;
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new InvalidOptionError(`${what} must be an array`);
  return value;
}
