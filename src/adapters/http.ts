import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { Delivery, DeliveryMeta } from '../delivery.js';
import { InvalidOptionError, TransportError, UsageError, describe } from '../errors.js';
import type { Adapter, AckKind, AdapterOpenOptions } from './adapter.js';
import { resolveMaxMessageBytes } from './lines.js';
import { wholeNumberFlag, type AdapterSpec, type CommonAdapterOptions } from './spec.js';
import { TickBatches } from './tick-batches.js';

/** Options of an {@link HttpAdapter}. All have defaults. */
export interface HttpAdapterOptions {
  /** The port to listen on; 0 picks a free one (see {@link HttpAdapter.port}). Default 8080. */
  readonly port?: number;
  /** The address to listen on. Default `127.0.0.1`: only this machine; give `0.0.0.0` to take outside requests. */
  readonly host?: string;
  /** The path that accepts POSTs. Default `/`. */
  readonly path?: string;
  /** When set, every POST must carry `X-Missive-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with it. */
  readonly secret?: string;
  /** Larger bodies are refused with 413. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** The `Retry-After` (seconds) sent with every 503. Default 5. */
  readonly retryAfterSeconds?: number;
  /** Where listening and refusals are reported. Default: nowhere. */
  readonly log?: CommonAdapterOptions['log'];
}

/** Transport metadata of an HTTP delivery, as `ctx.delivery` shows it. */
export interface HttpDeliveryMeta extends DeliveryMeta {
  readonly source: string;
  readonly method: string;
  readonly path: string;
  /** Request headers, names in lowercase, without `authorization`, `proxy-authorization` and `cookie`. */
  readonly headers: Readonly<Record<string, string | string[]>>;
}

/** The header a signed request carries. */
export const SIGNATURE_HEADER = 'x-missive-signature';

/** Credentials never travel with a message: not to handlers, not to dead letters, not to logs. */
const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/** One request waiting for its answer; the delivery's handle. */
interface PendingRequest {
  readonly res: ServerResponse;
  answered: boolean;
}

/**
 * Receives webhooks: each `POST <path>` is one message, and its response waits until the message is settled, so
 * the sender learns the outcome and retries what was not handled: an ack answers 200 `{"result":"ack"}` (or
 * `{"result":"dead-lettered"}` once stored as a dead letter), a nack answers 503 with `Retry-After`, which is how
 * this transport "requeues" (`canRequeue` is true: the sender delivers again).
 *
 * At most `maxInFlight` requests are held unanswered; past that, requests are answered 503 at once rather than
 * queued. Bodies over `maxMessageBytes` are refused with 413 without being read to the end, and the connection is
 * closed. `GET /healthz` answers 200 `{"status":"ok"}`, or 503 while stopping. Connections are kept alive.
 */
export class HttpAdapter implements Adapter<Server> {
  /** @inheritdoc */
  readonly name = 'http';
  /** @inheritdoc */
  readonly canRequeue = true;
  /** The path that accepts POSTs. */
  readonly path: string;
  /** The address listened on. */
  readonly host: string;
  readonly #requestedPort: number;
  readonly #secret: Buffer | undefined;
  readonly #maxMessageBytes: number;
  readonly #retryAfter: string;
  readonly #log: CommonAdapterOptions['log'];
  readonly #source: string;
  #server: Server | undefined;
  #port: number | undefined;
  #batches: TickBatches | undefined;
  #maxInFlight = 1;
  /** Requests admitted and not yet answered, bodies still arriving included. */
  #held = 0;
  /** Requests handed to the pipeline and not yet answered. */
  readonly #waiting = new Set<PendingRequest>();
  #stopping = false;
  /** Resolves once the server has closed, every connection included. */
  #closed: Promise<void> | undefined;
  #busyRefusals = 0;

  /** @param options Where to listen and what to accept; see {@link HttpAdapterOptions}. */
  constructor(options: HttpAdapterOptions = {}) {
    const port = options.port ?? 8080;
    if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidOptionError(`port must be a whole number from 0 to 65535 (0 picks a free one), got ${port}`);
    }
    this.#requestedPort = port;
    this.host = options.host ?? '127.0.0.1';
    this.path = options.path ?? '/';
    if (!this.path.startsWith('/') || this.path.includes('?')) {
      throw new InvalidOptionError(`path must start with "/" and hold no query string, got "${this.path}"`);
    }
    if (options.secret === '') throw new InvalidOptionError('the signature secret must not be empty');
    this.#secret = options.secret === undefined ? undefined : Buffer.from(options.secret);
    this.#maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
    const retryAfter = options.retryAfterSeconds ?? 5;
    if (!Number.isSafeInteger(retryAfter) || retryAfter < 0) {
      throw new InvalidOptionError(`retryAfterSeconds must be a whole number of seconds, got ${retryAfter}`);
    }
    this.#retryAfter = String(retryAfter);
    this.#log = options.log ?? (() => {});
    this.#source = `http:${this.path}`;
  }

  /** The HTTP server; undefined until `open()`. */
  get client(): Server | undefined {
    return this.#server;
  }

  /** The port listened on (the one picked when 0 was asked for), also after `stop()`; undefined until `open()`. */
  get port(): number | undefined {
    return this.#port;
  }

  /** Requests answered 503 at once because `maxInFlight` requests were already held. */
  get busyRefusals(): number {
    return this.#busyRefusals;
  }

  /** Starts listening. Fails with a `TransportError` when the address cannot be listened on (port in use). */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#server) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#maxInFlight = Math.max(1, options?.maxInFlight ?? 1000);
    const batches = new TickBatches((unwanted) => this.#refuseAll(unwanted));
    const server = createServer((req, res) => this.#onRequest(req, res));
    this.#server = server;
    this.#batches = batches;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#requestedPort, this.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.#server = undefined;
      this.#batches = undefined;
      throw new TransportError(
        `cannot listen on ${this.host}:${this.#requestedPort} (${describe(error)}); choose another --port ` +
          '(0 picks a free one) or --host',
        { cause: error },
      );
    }
    this.#port = (server.address() as AddressInfo).port;
    server.on('error', (error) => this.#log('error', `the HTTP server failed: ${describe(error)}`));
    batches.readable.once('close', () => void this.stop());
    this.#log('info', `listening on http://${this.host}:${this.port}${this.path}`, { path: this.path });
    return batches.readable;
  }

  /** Answers 200: `{"result":"ack"}`, or `{"result":"dead-lettered"}` when the message went to the dead letters. */
  ack(deliveries: readonly Delivery[], kind: AckKind): void {
    const body = kind === 'dead-lettered' ? '{"result":"dead-lettered"}' : '{"result":"ack"}';
    for (const delivery of deliveries) this.#answer(delivery.handle as PendingRequest, 200, body);
  }

  /** Answers 503 with `Retry-After` and `{"result":"nack"}`: the sender delivers it again later. */
  nack(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) {
      this.#answer(delivery.handle as PendingRequest, 503, '{"result":"nack"}', { 'retry-after': this.#retryAfter });
    }
  }

  /**
   * Stops taking requests: no new connections, 503 to new requests on open ones, and the stream ends. Requests
   * already handed over are still answered when they are settled.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const server = this.#server;
    if (server) {
      // Refuses new connections and closes idle ones; busy ones close after their answer (Connection: close).
      this.#closed = new Promise((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
    }
    this.#batches?.end();
  }

  /**
   * Answers 503 to any request still waiting (the run gave up on it), then closes the server and every connection.
   */
  async close(): Promise<void> {
    await this.stop();
    for (const pending of [...this.#waiting]) {
      this.#answer(pending, 503, '{"result":"nack"}', { 'retry-after': this.#retryAfter });
    }
    const server = this.#server;
    if (!server || !this.#closed) return;
    server.closeIdleConnections();
    // Answers just sent still have to reach their clients; a connection that lingers past that is cut.
    const timer = setTimeout(() => server.closeAllConnections(), 1000);
    await this.#closed;
    clearTimeout(timer);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    // A client that goes away mid-request makes `req` emit an error; 'close' below handles it.
    req.on('error', () => {});
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (this.#stopping) this.#reply(res, 503, '{"status":"stopping"}', { 'retry-after': this.#retryAfter });
      else this.#reply(res, 200, '{"status":"ok"}');
      return;
    }
    if (path !== this.path) {
      this.#reply(res, 404, JSON.stringify({ error: `not found; messages are POSTed to ${this.path}` }));
      return;
    }
    if (req.method !== 'POST') {
      this.#reply(res, 405, '{"error":"method not allowed; use POST"}', { allow: 'POST' });
      return;
    }
    if (this.#stopping) {
      this.#reply(res, 503, '{"error":"shutting down; try again later"}', { 'retry-after': this.#retryAfter });
      return;
    }
    if (this.#held >= this.#maxInFlight) {
      this.#busyRefusals++;
      this.#reply(res, 503, '{"error":"busy; try again later"}', { 'retry-after': this.#retryAfter });
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (declared > this.#maxMessageBytes) {
      this.#tooLarge(res, declared);
      return;
    }
    this.#held++;
    this.#readBody(req, res);
  }

  #readBody(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const release = () => {
      if (settled) return;
      settled = true;
      this.#held--;
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= this.#maxMessageBytes) {
        chunks.push(chunk);
        return;
      }
      // Not another byte kept: Node discards the rest of the body while the 413 goes out, then the socket closes.
      req.off('data', onData);
      chunks.length = 0;
      release();
      this.#tooLarge(res, size);
    };
    req.on('data', onData);
    req.on('close', () => {
      // The client went away before the body was complete: nothing to hand over.
      if (!req.complete) release();
    });
    req.on('end', () => {
      if (settled) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (this.#secret && !this.#signatureMatches(req, body)) {
        release();
        this.#reply(res, 401, JSON.stringify({ error: `missing or wrong ${SIGNATURE_HEADER} header` }));
        return;
      }
      const pending: PendingRequest = { res, answered: false };
      // The slot is now the pending request's: `#answer` gives it back.
      settled = true;
      this.#waiting.add(pending);
      this.#batches!.add(this.#delivery(req, body, pending));
    });
  }

  #delivery(req: IncomingMessage, body: Buffer, pending: PendingRequest): Delivery {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !DROPPED_HEADERS.has(name)) headers[name] = value;
    }
    const key = req.headers['idempotency-key'] ?? req.headers['x-request-id'];
    const meta: HttpDeliveryMeta = { source: this.#source, method: req.method ?? 'POST', path: this.path, headers };
    return { body, id: typeof key === 'string' && key !== '' ? key : undefined, meta, handle: pending };
  }

  #signatureMatches(req: IncomingMessage, body: Buffer): boolean {
    const header = req.headers[SIGNATURE_HEADER];
    const match = typeof header === 'string' ? SIGNATURE.exec(header.trim()) : null;
    if (!match) return false;
    const expected = createHmac('sha256', this.#secret!).update(body).digest();
    return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected);
  }

  #tooLarge(res: ServerResponse, size: number): void {
    this.#reply(
      res,
      413,
      JSON.stringify({ error: `the body is ${size} bytes or more, over the limit of ${this.#maxMessageBytes} bytes` }),
      { connection: 'close' },
    );
  }

  /** Requests handed over after the stream ended: the sender tries again later. */
  #refuseAll(deliveries: Delivery[]): void {
    for (const delivery of deliveries) {
      this.#answer(delivery.handle as PendingRequest, 503, '{"error":"shutting down; try again later"}', {
        'retry-after': this.#retryAfter,
      });
    }
  }

  /** Answers a request handed to the pipeline, once; its in-flight slot is free again. */
  #answer(pending: PendingRequest, status: number, body: string, headers?: Record<string, string>): void {
    if (pending.answered) return;
    pending.answered = true;
    this.#waiting.delete(pending);
    this.#held--;
    this.#reply(pending.res, status, body, headers);
  }

  #reply(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
    if (res.headersSent || res.destroyed) return;
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    // While stopping, each connection closes after its answer, so the server can finish closing.
    if (this.#stopping) res.setHeader('connection', 'close');
    res.end(body);
  }
}

/** `--adapter http`: webhooks, the response waiting for the outcome. */
export const httpSpec: AdapterSpec = {
  name: 'http',
  summary:
    'HTTP webhooks: each POST is a message and its response waits for the outcome (200 handled or dead-lettered, ' +
    '503 + Retry-After on nack or when busy), so senders retry; optional HMAC signature check',
  flags: {
    port: { type: 'string', default: '8080', description: 'the port to listen on (0 picks a free one)' },
    host: { type: 'string', default: '127.0.0.1', description: 'the address to listen on (0.0.0.0 for every interface)' },
    path: { type: 'string', default: '/', description: 'the path that accepts POSTs' },
    secret: {
      type: 'string',
      description: 'require X-Missive-Signature: sha256=<hex HMAC-SHA256 of the body> keyed with this secret',
    },
  },
  create(values, common) {
    const port = wholeNumberFlag(values, 'port', 8080, 0, 65_535);
    const path = (values['path'] as string | undefined) ?? '/';
    if (!path.startsWith('/') || path.includes('?')) {
      throw new UsageError(`--path must start with "/" and hold no query string, got "${path}"`);
    }
    const secret = values['secret'] as string | undefined;
    if (secret === '') throw new UsageError('--secret must not be empty');
    return new HttpAdapter({
      port,
      host: (values['host'] as string | undefined) ?? '127.0.0.1',
      path,
      secret,
      maxMessageBytes: common.maxMessageBytes,
      log: common.log,
    });
  },
};
