import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { InvalidOptionError } from '../errors.js';
import type { DeadLetter, Dlq } from './dlq.js';
import type { SqlResult } from './sql-sandbox.js';
import { ensureSocketDirectory } from './socket-path.js';
import {
  MAX_LINE_BYTES,
  OPERATIONS,
  decodeCursor,
  decodeFilter,
  decodeInput,
  encodeError,
  encodeLetter,
  type Operation,
  type Operations,
  type PageCursor,
  type Request,
} from './wire.js';

/** What the server needs of the store it answers for: the Dlq, one SQL query, and pages in the store's order. */
export interface ServedStore extends Dlq {
  /** The real path of the file: clients check it, in case two files ever hashed to one socket. */
  readonly path: string;
  sql(query: string, options: { reveal: boolean }): Promise<SqlResult>;
  page(after: PageCursor | null, limit: number): Promise<DeadLetter[]>;
}

/** A running server; `close` stops taking requests, lets those begun finish, and removes the socket. */
export interface StoreServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** The most letters one page request may ask for: the answer is one line of JSON. */
const MAX_PAGE = 1000;

/**
 * Answers other processes' requests for the store on a Unix socket (see wire.ts for the protocol and
 * shared-access.ts for the design). A socket left by a process that died is replaced: the caller holds the file's
 * write lock, so no live process can be serving this file.
 */
export async function serveStore(store: ServedStore, socketPath: string): Promise<StoreServer> {
  await ensureSocketDirectory(socketPath);
  const existing = await lstat(socketPath).catch(() => undefined);
  if (existing?.isSocket()) await unlink(socketPath);
  const sockets = new Set<Socket>();
  const inFlight = new Set<Promise<unknown>>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      buffered += text;
      if (buffered.length > MAX_LINE_BYTES) {
        socket.destroy();
        return;
      }
      let end: number;
      while ((end = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        const answer = answerLine(store, line).then((response) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
        });
        inFlight.add(answer);
        void answer.finally(() => inFlight.delete(answer));
      }
    });
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

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function answerLine(store: ServedStore, line: string): Promise<unknown> {
  let request: Request;
  try {
    request = JSON.parse(line) as Request;
  } catch {
    return { n: -1, error: { code: 'MISSIVE_ERR_INVALID_OPTION', message: 'a request must be one line of JSON' } };
  }
  try {
    if (!OPERATIONS.includes(request.op)) throw new InvalidOptionError(`unknown operation ${String(request.op)}`);
    return { n: request.n, result: await perform(store, request.op, (request.args ?? {}) as never) };
  } catch (error) {
    return { n: request.n, error: encodeError(error) };
  }
}

async function perform<O extends Operation>(
  store: ServedStore,
  op: O,
  args: Operations[O]['args'],
): Promise<Operations[Operation]['result']> {
  const a = args as Record<string, unknown>;
  switch (op) {
    case 'hello':
      return { path: store.path, pid: process.pid };
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
      await store.put((a['letters'] as never[]).map(decodeInput));
      return null;
    case 'delete':
      return store.delete((a['keys'] as unknown[]).map((key) => text(key, 'key')));
    case 'sql':
      return store.sql(text(a['sql'], 'sql'), { reveal: a['reveal'] === true });
    default:
      throw new InvalidOptionError(`unknown operation ${String(op)}`);
  }
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidOptionError(`${what} must be a string`);
  return value;
}
