import type { DeliveryMeta } from '../delivery.js';
import { ProcessingHookError, TimeoutError } from '../errors.js';
import type { Message } from '../message.js';
import { ACK, timeoutReason, type DeadLetterOutcome, type Outcome } from '../outcome.js';
import { isConfidential } from '../confidential.js';
import { isAsyncFunction, type Processor } from '../processor.js';
import { UNROUTED, chooseRoute } from '../routing.js';
import { MessageContext, type ProcessingContext } from './context.js';
import { Timings, type HandlerTiming } from './timings.js';
import { handleMessage } from './handle.js';
import type { StrayErrorCatcher } from './stray-errors.js';

/** A report about one message that did not change its outcome (a second settle, an error after settling). */
export interface Warning {
  readonly id: string;
  readonly text: string;
}

/** The outcomes of a batch, in the batch's order, and what was reported on the way. */
export interface BatchResult {
  readonly outcomes: Outcome[];
  readonly warnings: Warning[];
  /** Handler durations, when the run measures them. */
  readonly timings?: HandlerTiming[];
  /** Answers given with `ctx.reply`, by position in the batch. */
  readonly replies?: Reply[];
  /**
   * Where messages sent `UNROUTED` were routed in this thread: the route index, or `ROUTE_FAILED` (the message's
   * outcome is then the routing dead letter). Absent when every message came routed.
   */
  readonly routes?: Int32Array;
}

/** One `ctx.reply` answer. */
export interface Reply {
  readonly index: number;
  readonly body: Buffer;
}

/** One message, ready to run. */
export interface RunItem<M> {
  /** The route's index, or `UNROUTED`: the thread that runs the message picks its route. */
  readonly route: number;
  readonly message: M;
  readonly attempt: number;
  /** Set when the message is already known to be a dead letter (a line over the size limit): nothing runs. */
  readonly rejected?: DeadLetterOutcome;
}

/**
 * The messages of a batch, built when they are run: a block's messages are made one at a time as its loop reaches
 * them, so a synchronous handler's message is garbage as soon as it returns, and the young generation stays cheap
 * to collect. An array of items is one too (`{ length, at: (i) => items[i] }`).
 */
export interface RunItems<M> {
  readonly length: number;
  at(index: number): RunItem<M>;
}

/**
 * Progress marks a batch writes per message into shared memory, so that when a handler kills its worker the main
 * thread can tell which messages were acked, which one was running, and which never started.
 */
export const PROGRESS_STARTED = 1;
export const PROGRESS_ACKED = 2;
export const PROGRESS_SETTLED = 3;

/** Marks in a batch's `routes`: routing failed (a dead letter), or not routed yet (its matchers may be running). */
export const ROUTE_FAILED = -1;
export const ROUTE_PENDING = -2;

/** The `running` mark while no message's synchronous code is on the thread's stack. */
export const NOT_RUNNING = -1;

/**
 * What a batch writes into shared memory as it goes, for the main thread's watchdog and crash recovery: a mark per
 * message (`PROGRESS_*`), the routes it picked (`ROUTE_*`), and which message holds the thread.
 */
export interface BatchMarks {
  readonly progress: Int32Array;
  readonly routed?: Int32Array;
  /**
   * One word: the index of the message whose synchronous code is on the thread's stack (its construction, its
   * matchers, its hooks and handler up to their first await), or `NOT_RUNNING`. Many messages of a batch may be
   * awaiting at once, but only this one can be holding the thread; "started" says nothing about that.
   */
  readonly running: Int32Array;
  /** What `running` calls the batch's first message (a block's slice counts from the block's start). */
  readonly base?: number;
}

/**
 * Everything that runs handlers in one thread (a worker, or the main thread with `threads: 0` and in the test
 * client): the processing hooks, run once, and batches of routed messages.
 */
export class ThreadRuntime<M extends Message<unknown>> {
  readonly processor: Processor<M>;
  readonly processing: ProcessingContext;
  /** The timeout for handlers that set none (`--timeout`), in ms; 0 for none. */
  defaultTimeoutMs = 0;
  /** Whether to time every handler: only when metrics are served, as it costs two clock reads a message. */
  measure = false;
  #started: Promise<void> | undefined;
  #stopped = false;
  readonly #onLateWarning: (warning: Warning) => void;
  readonly #confidential: boolean[];
  /** Per route: whether its handler runs in an async context that ties stray errors to its message. */
  readonly #tie: boolean[];
  readonly #strays: StrayErrorCatcher;

  /**
   * @param onLateWarning receives warnings raised after their batch was returned (a handler that kept `ctx` and
   *   settled later); warnings raised during the batch come back in its result.
   * @param strays the catcher that the stray errors of this runtime's handlers are tied to.
   */
  constructor(
    processor: Processor<M>,
    threadId: number,
    onLateWarning: (warning: Warning) => void,
    strays: StrayErrorCatcher,
  ) {
    this.processor = processor;
    this.processing = { state: {}, threadId };
    this.#onLateWarning = onLateWarning;
    this.#strays = strays;
    this.#confidential = processor.routes.map((route) => isConfidential(processor, route.index));
    // Tying errors to their message costs every call (~6% of a trivial handler's run): paid for async handlers and
    // hooks, whose work goes on after the call returns, not for plain functions (see stray-errors.ts).
    const anyHooks = processor.hooks.beforeHandling.length > 0 || processor.hooks.afterHandling.length > 0;
    this.#tie = processor.routes.map((route) => anyHooks || isAsyncFunction(route.handler));
  }

  /** Runs the `beforeProcessing` hooks, once however often it is called. */
  start(): Promise<void> {
    return (this.#started ??= this.#runHooks('beforeProcessing'));
  }

  /** Runs the `afterProcessing` hooks, once, if processing started. */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    await this.#started;
    await this.#runHooks('afterProcessing');
  }

  /**
   * Runs every message of a batch. Synchronous handlers run one after another; asynchronous ones overlap, so
   * a batch of I/O-bound messages waits about as long as its slowest message. `marks`, when given, get a mark
   * per message as it starts and ends, and say which message holds the thread. Messages sent `UNROUTED` are routed
   * here first, their routes written to `marks.routed` (shared with the main thread, so its watchdog and crash
   * recovery see them) or a new array.
   */
  runBatch(items: readonly RunItem<M>[] | RunItems<M>, marks?: BatchMarks): BatchResult | Promise<BatchResult> {
    const { routes, hooks } = this.processor;
    const progress = marks?.progress;
    let routed = marks?.routed;
    const running = marks?.running;
    const base = marks?.base ?? 0;
    const outcomes: Outcome[] = new Array<Outcome>(items.length);
    const warnings: Warning[] = [];
    let returned = false;
    let pending: Promise<void>[] | undefined;
    const timings = this.measure ? new Timings() : undefined;
    let replies: Reply[] | undefined;
    const warn = (id: string, text: string) => {
      if (returned) this.#onLateWarning({ id, text });
      else warnings.push({ id, text });
    };
    const collect = (i: number, ctx: MessageContext) => {
      if (ctx.replies) for (const body of ctx.replies) (replies ??= []).push({ index: i, body });
    };
    for (let i = 0; i < items.length; i++) {
      // Set before anything of the message runs, and left until the next one starts: whatever holds the thread
      // from here on (its class, a matcher, a hook, its handler's code before the first await) is this message's.
      if (running) running[0] = base + i;
      const item = items.at(i)!;
      const { message, attempt, rejected } = item;
      let { route } = item;
      if (rejected) {
        if (route === UNROUTED) (routed ??= new Int32Array(items.length).fill(ROUTE_PENDING))[i] = ROUTE_FAILED;
        outcomes[i] = rejected;
        if (progress) progress[i] = PROGRESS_SETTLED;
        continue;
      }
      if (progress) progress[i] = PROGRESS_STARTED;
      if (route === UNROUTED) {
        routed ??= new Int32Array(items.length).fill(ROUTE_PENDING);
        const chosen = chooseRoute(routes, message);
        if (typeof chosen !== 'number') {
          routed[i] = ROUTE_FAILED;
          outcomes[i] = chosen;
          if (progress) progress[i] = PROGRESS_SETTLED;
          continue;
        }
        routed[i] = route = chosen;
      }
      const selected = routes[route]!;
      const confidential = this.#confidential[route] === true;
      const meta = message.meta as DeliveryMeta;
      const ctx = new MessageContext(this.processing, meta, selected.name, attempt, message.id, warn, confidential);
      const started = timings ? performance.now() : 0;
      let outcome = this.#tie[route]
        ? this.#strays.run(message.id, ctx, handleMessage, hooks, selected, message, ctx)
        : handleMessage(hooks, selected, message, ctx);
      if (outcome instanceof Promise) {
        const timeoutMs = selected.options.timeout ?? this.defaultTimeoutMs;
        if (timeoutMs > 0) outcome = withTimeout(outcome, ctx, timeoutMs);
        (pending ??= []).push(
          outcome.then((settled) => {
            timings?.record(route, (performance.now() - started) / 1000);
            collect(i, ctx);
            outcomes[i] = settled;
            if (progress) progress[i] = settled === ACK ? PROGRESS_ACKED : PROGRESS_SETTLED;
          }),
        );
      } else {
        timings?.record(route, (performance.now() - started) / 1000);
        collect(i, ctx);
        outcomes[i] = outcome;
        if (progress) progress[i] = outcome === ACK ? PROGRESS_ACKED : PROGRESS_SETTLED;
      }
    }
    // From here only code after an await runs for this batch, and that has no mark: see PoolExecutor's watchdog.
    if (running) running[0] = NOT_RUNNING;
    if (pending) {
      return Promise.all(pending).then(() => {
        returned = true;
        return { outcomes, warnings, timings: timings?.list(), replies, routes: routed };
      });
    }
    returned = true;
    return { outcomes, warnings, timings: timings?.list(), replies, routes: routed };
  }

  async #runHooks(name: 'beforeProcessing' | 'afterProcessing'): Promise<void> {
    for (const hook of this.processor.hooks[name]) {
      try {
        await hook(this.processing);
      } catch (error) {
        throw new ProcessingHookError(name, error);
      }
    }
  }
}

/**
 * Settles a message as timed out if its handler has not finished in time, and aborts `ctx.signal` so the handler
 * can stop its work. A handler that blocks its thread never lets this timer fire: the pool's watchdog handles it.
 */
function withTimeout(outcome: Promise<Outcome>, ctx: MessageContext, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      const error = new TimeoutError(ctx.handler, timeoutMs);
      ctx.fail(timeoutReason(timeoutMs), error, true);
      ctx.abort(error);
      resolve(ctx.finish());
    }, timeoutMs);
    void outcome.then((settled) => {
      clearTimeout(timer);
      resolve(settled);
    });
  });
}
