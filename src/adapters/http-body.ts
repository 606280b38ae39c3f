import type { IncomingMessage } from 'node:http';
import type { ByteBudget } from './http-byte-budget.js';

/** How reading one request body ended. Only a complete body keeps its bytes reserved; the others gave them back. */
export type BodyOutcome =
  | { readonly kind: 'complete'; readonly body: Buffer; readonly reserved: number }
  /** Over `maxBytes`, declared or counted; `size` is how much was seen. */
  | { readonly kind: 'too-large'; readonly size: number }
  /** The byte budget had no room for it (the declared length at once, or the next chunk of a chunked body). */
  | { readonly kind: 'over-budget' }
  /** Not complete within `timeoutMs`. */
  | { readonly kind: 'timeout' }
  /** The client went away first. */
  | { readonly kind: 'aborted' };

/** The bounds one body is read within. */
export interface BodyLimits {
  readonly maxBytes: number;
  readonly budget: ByteBudget;
  readonly timeoutMs: number;
}

/**
 * Reads the body of `req` and calls `done` once with the outcome. Every byte kept is reserved in the budget first;
 * a declared `Content-Length` is reserved whole before anything is read, so a refusal can come before the body
 * does (`done` is then called at once). Outcomes other than `complete` stop keeping bytes; the caller answers, and
 * Node discards whatever of the body still comes.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits, done: (outcome: BodyOutcome) => void): void {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > limits.maxBytes) return done({ kind: 'too-large', size: declared });
  let reserved = declared ?? 0;
  if (!limits.budget.tryReserve(reserved)) return done({ kind: 'over-budget' });
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const finish = (outcome: BodyOutcome) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    req.off('data', onData);
    if (outcome.kind !== 'complete') {
      chunks.length = 0;
      limits.budget.release(reserved);
    }
    done(outcome);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limits.maxBytes) return finish({ kind: 'too-large', size });
    // Only a chunked body grows past its reservation: Node's parser holds a declared one to its length.
    if (size > reserved) {
      if (!limits.budget.tryReserve(size - reserved)) return finish({ kind: 'over-budget' });
      reserved = size;
    }
    chunks.push(chunk);
  };
  const timer = setTimeout(() => finish({ kind: 'timeout' }), limits.timeoutMs);
  // A slow body must not keep a stopping process alive: close() cuts its connection anyway.
  timer.unref();
  req.on('data', onData);
  req.on('close', () => {
    if (!req.complete) finish({ kind: 'aborted' });
  });
  req.on('end', () => {
    if (settled) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    // A declared length is exact once the body is complete; a chunked body reserved what it grew to.
    finish({ kind: 'complete', body, reserved });
  });
}
