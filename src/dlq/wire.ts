import type { DeadLetter, DeadLetterInput, DlqFilter, DlqListOptions, Fingerprint } from './dlq.js';
import { DlqError, InvalidOptionError, MissiveError, UsageError } from '../errors.js';

/**
 * The protocol between `missive dlq` and the process that holds a dead-letter file open for writing (see
 * shared-access.ts): one JSON object per line each way. A request is `{ n, op, args }`; its answer carries the
 * same `n` and either `result` or `error: { code, message }`. Requests on one connection may overlap. Bodies go
 * as base64 and times as ISO strings, which keep the milliseconds the store keeps.
 */

/** Where a page of letters starts: after this letter in the store's order (first failure, id, key). */
export interface PageCursor {
  readonly firstFailedAt: Date;
  readonly id: string;
  readonly key: string;
}

/** The operations, their arguments and their results, as JSON. */
export interface Operations {
  hello: { args: Record<string, never>; result: Hello };
  count: { args: { filter: WireFilter }; result: number };
  list: { args: { options: WireFilter & { limit?: number; offset?: number } }; result: WireLetter[] };
  get: { args: { keyOrId: string }; result: WireLetter | null };
  findById: { args: { id: string }; result: WireLetter[] };
  oldest: { args: Record<string, never>; result: WireLetter | null };
  page: { args: { after: WireCursor | null; limit: number }; result: WireLetter[] };
  put: { args: { letters: WireInput[] }; result: null };
  delete: { args: { keys: string[] }; result: number };
  sql: { args: { sql: string; reveal: boolean; builtIn?: boolean }; result: { columns: string[]; rows: unknown[][] } };
}

export type Operation = keyof Operations;
export const OPERATIONS: readonly Operation[] = [
  'hello',
  'count',
  'list',
  'get',
  'findById',
  'oldest',
  'page',
  'put',
  'delete',
  'sql',
];

export interface Request<O extends Operation = Operation> {
  readonly n: number;
  readonly op: O;
  readonly args: Operations[O]['args'];
}

/** What a server says of itself: the file it holds, and the limits it keeps a connection to. */
export interface Hello {
  readonly path: string;
  readonly pid: number;
  /** The longest request line it reads; a longer one gets an error and the connection closed. */
  readonly maxRequestBytes: number;
  /** How long a connection may stay without a request before the server closes it. */
  readonly idleMs: number;
}

export type Response =
  | { readonly n: number; readonly result: unknown }
  | { readonly n: number; readonly error: { readonly code: string; readonly message: string } };

export interface WireFilter {
  readonly reason?: string;
  readonly handler?: string;
  readonly since?: string;
}

export interface WireCursor {
  readonly firstFailedAt: string;
  readonly id: string;
  readonly key: string;
}

export interface WireLetter {
  readonly key: string;
  readonly id: string;
  readonly body: string;
  readonly reason: string;
  readonly error: string | null;
  readonly handler: string | null;
  readonly source: string | null;
  readonly headers: Record<string, unknown> | null;
  readonly attempts: number;
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  readonly fingerprint: Fingerprint | null;
  readonly confidential: boolean;
}

export interface WireInput extends Omit<DeadLetterInput, 'body' | 'failedAt'> {
  readonly body: string;
  readonly failedAt?: string;
}

/** The longest answer a client reads: a page of letters with large bodies. */
export const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/**
 * The longest request the server reads by default: room for a letter of a 1 MiB message (the default
 * `--max-message-bytes`) in base64 with its error and headers. A client puts a larger batch in several requests.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** The `n` of an answer that belongs to no request: the frame had none, or the server closes the connection. */
export const NO_REQUEST = -1;

/**
 * Checks a request line's shape once, so nothing after it meets `null`, an array or a missing field: an object
 * with a whole-number `n`, a known `op` and `args` an object (or absent). Anything else gets an error answer.
 */
export function parseRequest(frame: string): { request: Request } | { refused: Response } {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return refuse(NO_REQUEST, 'a request must be one line of JSON');
  }
  if (!isRecord(value)) return refuse(NO_REQUEST, 'a request must be a JSON object { n, op, args }');
  const { n, op, args } = value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) return refuse(NO_REQUEST, 'a request needs n, a whole number');
  if (!OPERATIONS.includes(op as Operation)) return refuse(n, `unknown operation ${JSON.stringify(op) ?? 'undefined'}`);
  if (args !== undefined && !isRecord(args)) return refuse(n, 'args must be an object');
  return { request: { n, op: op as Operation, args: (args ?? {}) as never } };
}

function refuse(n: number, message: string): { refused: Response } {
  return { refused: { n, error: encodeError(new InvalidOptionError(message)) } };
}

/** A JSON object, not null and not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function encodeLetter(letter: DeadLetter): WireLetter {
  return {
    ...letter,
    body: letter.body.toString('base64'),
    firstFailedAt: letter.firstFailedAt.toISOString(),
    lastFailedAt: letter.lastFailedAt.toISOString(),
  };
}

export function decodeLetter(wire: WireLetter): DeadLetter {
  return {
    ...wire,
    body: Buffer.from(wire.body, 'base64'),
    firstFailedAt: new Date(wire.firstFailedAt),
    lastFailedAt: new Date(wire.lastFailedAt),
  };
}

export function encodeInput(input: DeadLetterInput): WireInput {
  const { body, failedAt, ...rest } = input;
  return {
    ...rest,
    body: Buffer.from(body).toString('base64'),
    ...(failedAt ? { failedAt: failedAt.toISOString() } : {}),
  };
}

export function decodeInput(wire: WireInput): DeadLetterInput {
  if (!isRecord(wire as unknown)) throw new InvalidOptionError('a dead letter sent to the store must be an object');
  const { body, failedAt, ...rest } = wire;
  if (typeof body !== 'string' || typeof rest.id !== 'string' || typeof rest.reason !== 'string') {
    throw new InvalidOptionError('a dead letter sent to the store needs an id, a reason and a body');
  }
  return { ...rest, body: Buffer.from(body, 'base64'), ...(failedAt ? { failedAt: new Date(failedAt) } : {}) };
}

export function encodeFilter(filter: DlqFilter | DlqListOptions): WireFilter & { limit?: number; offset?: number } {
  const { since, ...rest } = filter;
  return { ...rest, ...(since ? { since: since.toISOString() } : {}) };
}

export function decodeFilter(wire: WireFilter & { limit?: number; offset?: number }): DlqListOptions {
  if (wire !== undefined && wire !== null && !isRecord(wire as unknown))
    throw new InvalidOptionError('a filter must be an object');
  const { since, ...rest } = wire ?? {};
  return { ...rest, ...(since ? { since: new Date(since) } : {}) };
}

export function encodeCursor(cursor: PageCursor | null): WireCursor | null {
  return cursor && { ...cursor, firstFailedAt: cursor.firstFailedAt.toISOString() };
}

export function decodeCursor(wire: WireCursor | null): PageCursor | null {
  if (wire !== null && !isRecord(wire as unknown))
    throw new InvalidOptionError('a page cursor must be an object or null');
  return wire && { ...wire, firstFailedAt: new Date(wire.firstFailedAt) };
}

/** An error as it crosses the socket: its code says which class it becomes again. */
export function encodeError(error: unknown): { code: string; message: string } {
  if (error instanceof MissiveError) return { code: error.code, message: error.message };
  return { code: 'MISSIVE_ERR_DLQ', message: error instanceof Error ? error.message : String(error) };
}

export function decodeError(error: { code: string; message: string }): MissiveError {
  if (error.code === 'MISSIVE_ERR_USAGE') return new UsageError(error.message);
  if (error.code === 'MISSIVE_ERR_INVALID_OPTION') return new InvalidOptionError(error.message);
  return new DlqError(error.message);
}
