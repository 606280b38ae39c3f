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
  hello: { args: Record<string, never>; result: { path: string; pid: number } };
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
export const OPERATIONS: readonly Operation[] = ['hello', 'count', 'list', 'get', 'findById', 'oldest', 'page', 'put', 'delete', 'sql'];

export interface Request<O extends Operation = Operation> {
  readonly n: number;
  readonly op: O;
  readonly args: Operations[O]['args'];
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

/** The longest line either side accepts: a page of letters with large bodies, or a put of a replay batch. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

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
  return { ...rest, body: Buffer.from(body).toString('base64'), ...(failedAt ? { failedAt: failedAt.toISOString() } : {}) };
}

export function decodeInput(wire: WireInput): DeadLetterInput {
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
  const { since, ...rest } = wire ?? {};
  return { ...rest, ...(since ? { since: new Date(since) } : {}) };
}

export function encodeCursor(cursor: PageCursor | null): WireCursor | null {
  return cursor && { ...cursor, firstFailedAt: cursor.firstFailedAt.toISOString() };
}

export function decodeCursor(wire: WireCursor | null): PageCursor | null {
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
