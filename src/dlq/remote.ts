import { connect, type Socket } from 'node:net';
import { DlqError } from '../errors.js';
import type { DeadLetter, DeadLetterInput, Dlq, DlqFilter, DlqListOptions } from './dlq.js';
import type { ReadOnlySqlOptions, SqlResult } from './sql-sandbox.js';
import { FrameReader } from './frames.js';
import { socketToTrust } from './socket-dir-check.js';
import {
  MAX_ANSWER_BYTES,
  MAX_REQUEST_BYTES,
  NO_REQUEST,
  decodeError,
  decodeLetter,
  encodeCursor,
  encodeFilter,
  encodeInput,
  type Operation,
  type Operations,
  type PageCursor,
  type Response,
  type WireLetter,
} from './wire.js';

/** Letters per page when iterating over the socket: bounds the size of one answer. */
const PAGE_SIZE = 200;
/** The idle limit assumed of a server that does not say its own. */
const IDLE_MS_UNSAID = 30_000;
/** How long a process that accepts the connection may take to say which file it holds before it counts as silent. */
const HELLO_TIMEOUT_MS = 3000;

interface Pending {
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/**
 * A dead-letter store held open by another process (a running `missive run`), reached through the Unix socket
 * that process answers on (see shared-access.ts). Reads see every letter that process has committed; puts and
 * deletes are done by it, in its own write lane, so they never race its writes.
 */
export class RemoteDlq implements Dlq {
  /** The process that holds the file commits a put before it answers. */
  readonly durable = true;
  /** The real path of the file the other process holds. */
  readonly path: string;
  #pid: number;
  /** The longest request the other process reads (it says so in its hello). */
  #maxRequestBytes = MAX_REQUEST_BYTES;
  #keepAlive: NodeJS.Timeout | undefined;
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #closed: Error | undefined;

  private constructor(path: string, pid: number, socket: Socket) {
    this.path = path;
    this.#pid = pid;
    this.#socket = socket;
  }

  /**
   * Connects to the process answering on `socketPath` for the file at `realPath`. Resolves undefined when nothing
   * answers there (no socket, or one left by a process that is gone), or when what answers holds another file.
   * Rejects with `DlqSocketUnsafeError`, without connecting, when the socket or its directory is not this user's
   * own and private (see socket-dir-check.ts): whoever listens there could be another user.
   */
  static async connect(socketPath: string, realPath: string): Promise<RemoteDlq | undefined> {
    if (!(await socketToTrust(socketPath))) return undefined;
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const attempt = connect(socketPath);
      attempt.once('connect', () => resolve(attempt));
      attempt.once('error', () => resolve(undefined));
    });
    if (!socket) return undefined;
    const remote = new RemoteDlq(realPath, 0, socket);
    remote.#listen();
    try {
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer')), HELLO_TIMEOUT_MS);
      });
      const hello = await Promise.race([remote.#call('hello', {}), silent]).finally(() => clearTimeout(timer));
      if (hello.path !== realPath) {
        await remote.close();
        return undefined;
      }
      remote.#pid = hello.pid;
      remote.#maxRequestBytes = hello.maxRequestBytes ?? MAX_REQUEST_BYTES;
      // A command may hold the connection for long between requests (a replay of slow handlers): a hello now and
      // then keeps the server from closing it as idle.
      const idleMs = Number.isFinite(hello.idleMs) && hello.idleMs > 0 ? hello.idleMs : IDLE_MS_UNSAID;
      remote.#keepAlive = setInterval(() => void remote.#call('hello', {}).catch(() => {}), idleMs / 3);
      remote.#keepAlive.unref();
      return remote;
    } catch {
      await remote.close();
      return undefined;
    }
  }

  /** The process that holds the file. */
  get pid(): number {
    return this.#pid;
  }

  /** Stores letters through the other process, in as many requests as its request limit needs. */
  async put(letters: readonly DeadLetterInput[]): Promise<void> {
    if (letters.length === 0) return;
    // Room for `{"n":…,"op":"put","args":{"letters":[…]}}` around the letters.
    const room = this.#maxRequestBytes - 64;
    const batches: string[][] = [];
    let batch: string[] = [];
    let bytes = 0;
    for (const letter of letters) {
      const json = JSON.stringify(encodeInput(letter));
      const size = Buffer.byteLength(json) + 1;
      if (size > room) {
        throw new DlqError(
          `the dead letter ${letter.id} takes ${size} bytes on the socket, more than the ${this.#maxRequestBytes} ` +
            `the process holding ${this.path} (pid ${this.pid}) reads in one request; stop that process and run ` +
            'this command again: with nobody holding the file, it opens the file itself',
        );
      }
      if (bytes + size > room) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(json);
      bytes += size;
    }
    batches.push(batch);
    await Promise.all(batches.map((jsons) => this.#send('put', `{"letters":[${jsons.join(',')}]}`)));
  }

  async get(keyOrId: string): Promise<DeadLetter | undefined> {
    const letter = await this.#call('get', { keyOrId });
    return letter ? decodeLetter(letter) : undefined;
  }

  async findById(id: string): Promise<DeadLetter[]> {
    return (await this.#call('findById', { id })).map(decodeLetter);
  }

  delete(keys: string | readonly string[]): Promise<number> {
    const list = typeof keys === 'string' ? [keys] : [...keys];
    if (list.length === 0) return Promise.resolve(0);
    return this.#call('delete', { keys: list });
  }

  count(filter: DlqFilter = {}): Promise<number> {
    return this.#call('count', { filter: encodeFilter(filter) });
  }

  async list(options: DlqListOptions = {}): Promise<DeadLetter[]> {
    return (await this.#call('list', { options: encodeFilter(options) })).map(decodeLetter);
  }

  async oldest(): Promise<DeadLetter | undefined> {
    const letter = await this.#call('oldest', {});
    return letter ? decodeLetter(letter) : undefined;
  }

  /** One read-only query, run by the holding process on a locked-down connection of its own (see `dlq sql`). */
  sql(query: string, options: ReadOnlySqlOptions = {}): Promise<SqlResult> {
    return this.#call('sql', { sql: query, reveal: options.reveal === true, builtIn: options.builtIn === true });
  }

  /** Every letter, oldest first, a page at a time, so letters deleted meanwhile are not skipped over. */
  async *[Symbol.asyncIterator](): AsyncIterator<DeadLetter> {
    let after: PageCursor | null = null;
    for (;;) {
      const page: WireLetter[] = await this.#call('page', { after: encodeCursor(after), limit: PAGE_SIZE });
      for (const wire of page) yield decodeLetter(wire);
      if (page.length < PAGE_SIZE) return;
      const last = page.at(-1)!;
      after = { firstFailedAt: new Date(last.firstFailedAt), id: last.id, key: last.key };
    }
  }

  /** Closes the connection; the other process and its file are not affected. */
  async close(): Promise<void> {
    clearInterval(this.#keepAlive);
    this.#fail(new DlqError(`the connection to the process holding ${this.path} is closed`));
    this.#socket.destroy();
  }

  #listen(): void {
    const frames = new FrameReader(MAX_ANSWER_BYTES);
    this.#socket.on('data', (chunk: Buffer) => {
      const { frames: lines, overflow } = frames.push(chunk);
      if (overflow) {
        this.#socket.destroy(new Error('an answer longer than the protocol allows'));
        return;
      }
      for (const line of lines) {
        let response: Response;
        try {
          response = JSON.parse(line) as Response;
        } catch {
          this.#socket.destroy(new Error('an answer that is not JSON'));
          return;
        }
        if (response.n === NO_REQUEST && 'error' in response) {
          // The server's last word before it closes the connection (idle, too many connections, too long a request).
          this.#fail(decodeError(response.error));
          continue;
        }
        const pending = this.#pending.get(response.n);
        if (!pending) continue;
        this.#pending.delete(response.n);
        if ('error' in response) pending.reject(decodeError(response.error));
        else pending.resolve(response.result);
      }
    });
    this.#socket.on('error', () => {});
    this.#socket.on('close', () => {
      clearInterval(this.#keepAlive);
      this.#fail(
        new DlqError(
          `the process holding ${this.path} (pid ${this.pid}) closed it while this command was using it (it ` +
            'stopped?); run the command again: with nobody holding the file, it opens the file itself',
        ),
      );
    });
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const pending of this.#pending.values()) pending.reject(this.#closed);
    this.#pending.clear();
  }

  #call<O extends Operation>(op: O, args: Operations[O]['args']): Promise<Operations[O]['result']> {
    return this.#send(op, JSON.stringify(args)) as Promise<Operations[O]['result']>;
  }

  /** Sends one request whose args are JSON already. */
  #send(op: Operation, argsJson: string): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const n = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(n, { resolve, reject });
      this.#socket.write(`{"n":${n},"op":"${op}","args":${argsJson}}\n`);
    });
  }
}
