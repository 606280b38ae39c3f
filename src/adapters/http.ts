import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { Delivery, DeliveryMeta } from '../delivery.js';
import { InvalidOptionError, TransportError, UsageError, describe } from '../errors.js';
import type { Adapter, AckKind, AdapterOpenOptions } from './adapter.js';
import { readBody, type BodyOutcome } from './http-body.js';
import { ByteBudget } from './http-byte-budget.js';
import { resolveHttpLimits, type HttpAdapterOptions, type HttpLimits } from './http-options.js';
import { Rejections } from './http-rejections.js';
import { readSecretFile } from './http-secret-file.js';
import { createBoundedServer } from './http-server.js';
import { SIGNATURE_HEADER, claimedSignature, signatureMatches } from './http-signature.js';
import { wholeNumberFlag, type AdapterSpec, type CommonAdapterOptions } from './spec.js';
import { TickBatches } from './tick-batches.js';

export { DEFAULT_MAX_BODY_BYTES_IN_FLIGHT, type HttpAdapterOptions, type HttpLimits } from './http-options.js';
export { SIGNATURE_HEADER } from './http-signature.js';

/** Transport metadata of an HTTP delivery, as `ctx.delivery` shows it. */
export interface HttpDeliveryMeta extends DeliveryMeta {
  readonly source: string;
  readonly method: string;
  readonly path: string;
  /** Request headers, names in lowercase, without `authorization`, `proxy-authorization` and `cookie`. */
  readonly headers: Readonly<Record<string, string | string[]>>;
}

/** Credentials never travel with a message: not to handlers, not to dead letters, not to logs. */
const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** One request handed to the pipeline, waiting for its answer; the delivery's handle. */
interface PendingRequest {
  readonly res: ServerResponse;
  /** Bytes of the byte budget its body holds until it is answered. */
  readonly bytes: number;
  answered: boolean;
}

/**
 * Receives webhooks: each `POST <path>` is one message, and its response waits until the message is settled, so
 * the sender learns the outcome and retries what was not handled: an ack answers 200 `{"result":"ack"}` (or
 * `{"result":"dead-lettered"}` once stored as a dead letter), a nack answers 503 with `Retry-After`, which is how
 * this transport "requeues" (`canRequeue` is true: the sender delivers again).
 *
 * Clients that send slowly, send nothing or send too much cannot take the run down, whether or not they are
 * signed:
 * - a request holds one of the `maxInFlight` slots only once its whole body has arrived and its signature (with a
 *   secret) matched; past `maxInFlight` unanswered messages, requests are answered 503 at once;
 * - bodies arriving and bodies waiting for their outcome share a byte budget (`maxBodyBytesInFlight`); a request
 *   it has no room for is answered 503 at once, its body unread;
 * - with a secret, a request without a well-formed signature header is answered 401 before its body is read;
 * - bodies over `maxMessageBytes` get 413, bodies not complete within `bodyTimeoutMs` get 408, headers not
 *   complete within `headersTimeoutMs` get 408, idle connections close after `idleTimeoutMs`, and at
 *   `maxConnections` a new connection closes the one idle longest, or is itself closed when none is idle.
 * Every refusal before a body is read closes the connection. `GET /healthz` answers 200 `{"status":"ok"}`, or 503
 * while stopping. Connections are kept alive otherwise.
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
  readonly #limits: HttpLimits;
  readonly #budget: ByteBudget;
  readonly #retryAfter: string;
  readonly #log: CommonAdapterOptions['log'];
  readonly #source: string;
  readonly #rejections: Rejections;
  #server: Server | undefined;
  #port: number | undefined;
  #batches: TickBatches | undefined;
  #maxInFlight = 1;
  /** Requests handed to the pipeline and not yet answered: the in-flight slots taken. */
  readonly #waiting = new Set<PendingRequest>();
  #stopping = false;
  /** Resolves once the server has closed, every connection included. */
  #closed: Promise<void> | undefined;
  #busyRefusals = 0;
  #budgetRefusals = 0;
  #unsignedRefusals = 0;
  #bodyTimeouts = 0;
  #droppedConnections = 0;
  #evictedConnections = 0;

  /** @param options Where to listen, what to accept and the limits; see {@link HttpAdapterOptions}. */
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
    this.#limits = resolveHttpLimits(options);
    this.#budget = new ByteBudget(this.#limits.maxBodyBytesInFlight);
    this.#retryAfter = String(this.#limits.retryAfterSeconds);
    this.#log = options.log ?? (() => {});
    this.#rejections = new Rejections(this.#log);
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

  /** The limits in force, defaults filled in. */
  get limits(): HttpLimits {
    return this.#limits;
  }

  /** @inheritdoc */
  get rejectedByStatus(): Readonly<Record<string, number>> {
    return this.#rejections.byStatus;
  }

  /** Requests answered 503 because `maxInFlight` messages were already waiting for their outcome. */
  get busyRefusals(): number {
    return this.#busyRefusals;
  }

  /** Requests answered 503 because the byte budget had no room for their body. */
  get budgetRefusals(): number {
    return this.#budgetRefusals;
  }

  /** Requests answered 401 before their body was read: a secret is set and they carried no signature header. */
  get unsignedRefusals(): number {
    return this.#unsignedRefusals;
  }

  /** Requests answered 408 because their body did not arrive within `bodyTimeoutMs`. */
  get bodyTimeouts(): number {
    return this.#bodyTimeouts;
  }

  /**
   * Connections closed as soon as they were accepted: `maxConnections` were open, every one with a request in
   * progress.
   */
  get droppedConnections(): number {
    return this.#droppedConnections;
  }

  /** Idle connections (no request in progress) closed to make room for a new one at `maxConnections`. */
  get evictedConnections(): number {
    return this.#evictedConnections;
  }

  /** Bytes of bodies held now, arriving or waiting for their outcome; never above `maxBodyBytesInFlight`. */
  get bytesInFlight(): number {
    return this.#budget.used;
  }

  /** The most bytes of bodies that were held at once. */
  get peakBytesInFlight(): number {
    return this.#budget.peak;
  }

  /** Starts listening. Fails with a `TransportError` when the address cannot be listened on (port in use). */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#server) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#maxInFlight = Math.max(1, options?.maxInFlight ?? 1000);
    const batches = new TickBatches((unwanted) => this.#refuseAll(unwanted));
    const server = createBoundedServer(this.#limits, (req, res) => this.#onRequest(req, res), {
      onEvict: () => this.#evictedConnections++,
      onDrop: () => this.#onDrop(),
    });
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
    // A client that goes away mid-request makes `req` emit an error; readBody's 'close' handles it.
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
      this.#rejections.note(503, 'shutting down');
      this.#reply(res, 503, '{"error":"shutting down; try again later"}', { 'retry-after': this.#retryAfter });
      return;
    }
    // Every refusal from here on comes before the body is read, so the connection closes rather than wait for it.
    if (this.#waiting.size >= this.#maxInFlight) {
      this.#busy(res, { connection: 'close' });
      return;
    }
    let claimed: Buffer | undefined;
    if (this.#secret) {
      claimed = claimedSignature(req.headers);
      if (!claimed) {
        this.#unsignedRefusals++;
        this.#unauthorized(res, 'no signature header', { connection: 'close' });
        return;
      }
    }
    const limits = {
      maxBytes: this.#limits.maxMessageBytes,
      budget: this.#budget,
      timeoutMs: this.#limits.bodyTimeoutMs,
    };
    readBody(req, limits, (outcome) => this.#onBody(req, res, claimed, outcome));
    // A sender waiting for leave to send its body gets it only now, past every check that needs no body.
    if (!res.headersSent && /^100-continue$/i.test(String(req.headers.expect ?? ''))) res.writeContinue();
  }

  #onBody(req: IncomingMessage, res: ServerResponse, claimed: Buffer | undefined, outcome: BodyOutcome): void {
    switch (outcome.kind) {
      case 'aborted':
        return;
      case 'too-large':
        this.#tooLarge(res, outcome.size);
        return;
      case 'over-budget':
        this.#budgetRefusals++;
        this.#rejections.note(503, 'too many bytes of bodies in flight');
        this.#reply(res, 503, '{"error":"busy: too many bytes of bodies in flight; try again later"}', {
          'retry-after': this.#retryAfter,
          connection: 'close',
        });
        return;
      case 'timeout':
        this.#bodyTimeouts++;
        this.#rejections.note(408, 'body too slow');
        this.#reply(
          res,
          408,
          JSON.stringify({ error: `the body did not arrive within ${this.#limits.bodyTimeoutMs} ms; send it faster` }),
          { connection: 'close' },
        );
        return;
      case 'complete':
        break;
    }
    const { body, reserved } = outcome;
    if (claimed && !signatureMatches(this.#secret!, claimed, body)) {
      this.#budget.release(reserved);
      this.#unauthorized(res, 'bad signature');
      return;
    }
    // The slot is taken only now, so bodies still arriving never keep signed, complete requests out.
    if (this.#waiting.size >= this.#maxInFlight) {
      this.#budget.release(reserved);
      this.#busy(res);
      return;
    }
    // The slot and the reserved bytes are now the pending request's: `#answer` gives them back.
    const pending: PendingRequest = { res, bytes: reserved, answered: false };
    this.#waiting.add(pending);
    this.#batches!.add(this.#delivery(req, body, pending));
  }

  #onDrop(): void {
    if (this.#droppedConnections++ === 0) {
      this.#log(
        'warn',
        `${this.#limits.maxConnections} connections are open, each with a request in progress: new ones are ` +
          'closed at once; raise --max-connections if these are real senders',
        { maxConnections: this.#limits.maxConnections },
      );
    }
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

  #busy(res: ServerResponse, headers?: Record<string, string>): void {
    this.#busyRefusals++;
    this.#rejections.note(503, 'busy: --max-in-flight reached');
    this.#reply(res, 503, '{"error":"busy; try again later"}', { 'retry-after': this.#retryAfter, ...headers });
  }

  #unauthorized(res: ServerResponse, reason: string, headers?: Record<string, string>): void {
    this.#rejections.note(401, reason);
    this.#reply(res, 401, JSON.stringify({ error: `missing or wrong ${SIGNATURE_HEADER} header` }), headers);
  }

  #tooLarge(res: ServerResponse, size: number): void {
    const max = this.#limits.maxMessageBytes;
    this.#rejections.note(413, 'body too large');
    this.#reply(
      res,
      413,
      JSON.stringify({ error: `the body is ${size} bytes or more, over the limit of ${max} bytes` }),
      {
        connection: 'close',
      },
    );
  }

  /** Requests handed over after the stream ended: the sender tries again later. */
  #refuseAll(deliveries: Delivery[]): void {
    for (const delivery of deliveries) {
      this.#rejections.note(503, 'shutting down');
      this.#answer(delivery.handle as PendingRequest, 503, '{"error":"shutting down; try again later"}', {
        'retry-after': this.#retryAfter,
      });
    }
  }

  /** Answers a request handed to the pipeline, once; its in-flight slot and its bytes are free again. */
  #answer(pending: PendingRequest, status: number, body: string, headers?: Record<string, string>): void {
    if (pending.answered) return;
    pending.answered = true;
    this.#waiting.delete(pending);
    this.#budget.release(pending.bytes);
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
    '503 + Retry-After on nack or when busy), so senders retry; optional HMAC signature check; slow, silent or ' +
    'oversized senders are cut off by a byte budget, timeouts and a connection limit',
  flags: {
    port: { type: 'string', default: '8080', description: 'the port to listen on (0 picks a free one)' },
    host: {
      type: 'string',
      default: '127.0.0.1',
      description: 'the address to listen on (0.0.0.0 for every interface)',
    },
    path: { type: 'string', default: '/', description: 'the path that accepts POSTs' },
    secret: {
      type: 'string',
      description: 'require X-Missive-Signature: sha256=<hex HMAC-SHA256 of the body> keyed with this secret',
    },
    'secret-file': {
      type: 'string',
      description: 'like --secret, the secret read from this file (its trailing newline dropped)',
    },
    'max-body-bytes-in-flight': {
      type: 'string',
      default: '67108864 (64 MiB), or 4 x --max-message-bytes if larger',
      description: 'bytes of bodies arriving or awaiting their outcome at once; past it 503 at once, body unread',
    },
    'body-timeout': {
      type: 'string',
      default: '30000',
      description: 'ms from the end of the headers to the end of the body; then 408 and the connection closes',
    },
    'headers-timeout': {
      type: 'string',
      default: '10000',
      description: 'ms a connection may take to send request headers (also one that sends nothing); then 408, closed',
    },
    'idle-timeout': {
      type: 'string',
      default: '5000',
      description: 'ms a kept-alive connection may stay idle between requests before it is closed',
    },
    'max-connections': {
      type: 'string',
      default: '512',
      description: 'open connections at once; a new one past it closes the one idle longest, or itself if none is idle',
    },
  },
  create(values, common) {
    const port = wholeNumberFlag(values, 'port', 8080, 0, 65_535);
    const path = (values['path'] as string | undefined) ?? '/';
    if (!path.startsWith('/') || path.includes('?')) {
      throw new UsageError(`--path must start with "/" and hold no query string, got "${path}"`);
    }
    const optional = (name: string) => (values[name] === undefined ? undefined : wholeNumberFlag(values, name, 0, 1));
    const adapterOptions: HttpAdapterOptions = {
      port,
      host: (values['host'] as string | undefined) ?? '127.0.0.1',
      path,
      secret: secretOf(values),
      maxMessageBytes: common.maxMessageBytes,
      maxBodyBytesInFlight: optional('max-body-bytes-in-flight'),
      bodyTimeoutMs: optional('body-timeout'),
      headersTimeoutMs: optional('headers-timeout'),
      idleTimeoutMs: optional('idle-timeout'),
      maxConnections: optional('max-connections'),
      log: common.log,
    };
    try {
      return new HttpAdapter(adapterOptions);
    } catch (error) {
      // An option the flags let through but that clashes with another (a budget below --max-message-bytes).
      if (error instanceof InvalidOptionError) throw new UsageError(error.message);
      throw error;
    }
  },
};

/** The secret from `--secret` or `--secret-file`, never both. */
function secretOf(values: Readonly<Record<string, unknown>>): string | undefined {
  const secret = values['secret'] as string | undefined;
  const file = values['secret-file'] as string | undefined;
  if (secret !== undefined && file !== undefined) {
    throw new UsageError(
      'give --secret or --secret-file, not both; --secret-file keeps the secret out of ps and shell history',
    );
  }
  if (secret === '') throw new UsageError('--secret must not be empty');
  if (file === '') throw new UsageError('--secret-file needs the path of a file that holds the secret');
  return file === undefined ? secret : readSecretFile(file);
}
