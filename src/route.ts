/**
 * The route types, in a module of their own: the processor registers routes, the routing and the workers read
 * them, and none of them needs the others to know what a route is.
 */
import type { Message } from './message.js';
import type { Backoff } from './retry.js';
import type { HandlerContext } from './context.js';

/**
 * Decides whether a handler is for a message. Runs in registration order, in the thread that runs the handler (in
 * the main thread when the processor sets `matchInWorkers: false`).
 */
export type Matcher<M extends Message<unknown>> = (message: M) => boolean;

/** Handles one message. Returning (or resolving) without calling `ctx.ack()` or `ctx.nack()` acks it. */
export type Handler<M extends Message<unknown>> = (message: M, ctx: HandlerContext) => void | Promise<void>;

/** Per-handler options. Each has a default that suits most handlers; the run's flags can change the defaults. */
export interface HandlerOptions {
  /** Name used in logs and in the dead-letter `handler` column. Default: the function's name, else `handler#N`. */
  readonly name?: string;
  /**
   * How many more times a message is tried when the handler throws, before it becomes a dead letter. Retries wait
   * in memory (other messages keep flowing) and count against the in-flight cap. Default 0, or `--retries`.
   */
  readonly retries?: number;
  /** The wait before each retry. Default: 200 ms doubling up to 30 s, with full jitter. */
  readonly backoff?: Backoff;
  /**
   * The longest the handler may run, in ms. Past it, `ctx.signal` aborts and the message becomes a dead letter
   * `timeout after N ms`; a handler that blocks its thread has its worker replaced. Default: none, or `--timeout`.
   */
  readonly timeout?: number;
  /** Bodies of messages routed here never appear in logs, and `missive dlq show` masks them. Default false. */
  readonly confidential?: boolean;
}

/** One registered route: a matcher and the handler it selects. */
export interface Route<M extends Message<unknown>> {
  readonly index: number;
  readonly name: string;
  readonly matcher: Matcher<M>;
  readonly handler: Handler<M>;
  readonly options: HandlerOptions;
}
