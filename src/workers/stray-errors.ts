import { AsyncLocalStorage } from 'node:async_hooks';
import { WITHHELD } from '../confidential.js';
import { describeWithStack, isRetryable } from '../errors.js';
import { Reasons } from '../outcome.js';
import type { MessageContext } from './context.js';

/**
 * Errors from work a handler started and did not await: a promise it dropped that rejects, a throw from a timer or
 * an event listener. Node would end the thread (and with `threads: 0` the whole run, printing the error, body
 * quotes and all). Instead each thread that runs handlers catches them here and reports them: logged (the text
 * withheld for a confidential message, or for an untied error of a processor with confidential handlers) and
 * counted (`unhandledErrors`). An async handler (or any handler with handling hooks) runs in an async context that
 * Node carries into every timer and promise it starts, which ties such an error to its message: that message becomes
 * a dead letter `unhandled error` if it is still being handled. A plain function handler runs without one, as the
 * context costs every call and its leftover work is rarer: its errors are caught and counted, but not tied.
 */

/** The message a piece of code runs for, and the catcher of the runtime that runs it. */
interface Handling {
  readonly id: string;
  readonly ctx: MessageContext;
  readonly catcher: StrayErrorCatcher;
}

/**
 * Set around every handler call. An AsyncLocalStorage costs a sync handler ~15 ns; once used, every promise in the
 * thread pays a hook, which async handlers (already a promise a message) can afford.
 */
const handling = new AsyncLocalStorage<Handling>();

/** One error nobody awaited, as a thread reports it. */
export interface StrayError {
  /** The message it was tied to, if any. */
  readonly id?: string;
  readonly handler?: string;
  /** The error and its stack, or {@link WITHHELD} for a confidential message (or an untied error of a processor
   * with confidential handlers). */
  readonly text: string;
  /** Whether its message was still being handled and so becomes a dead letter. */
  readonly deadLettered: boolean;
}

/**
 * The catchers open in this thread. Several runtimes can be open in one thread (test clients, runs with
 * `threads: 0`): one pair of process listeners serves them all, so that an error tied to a message reaches only the
 * runtime of that message, and a dozen open runtimes do not add a dozen listeners (Node warns of a leak past ten).
 */
const open = new Set<StrayErrorCatcher>();

function onStrayError(error: unknown): void {
  const current = handling.getStore();
  if (current && open.has(current.catcher)) {
    current.catcher.reportTied(current, error);
    return;
  }
  // Not tied, or tied to a runtime that has closed since: no runtime can claim it, so each open one reports it.
  for (const catcher of open) catcher.reportUntied(error);
}

/**
 * Catches the stray errors of one runtime from construction until {@link StrayErrorCatcher.stop}.
 * `untiedIsConfidential` says whether an error that cannot be tied to a message must be treated as confidential
 * (see `isConfidential` with no route).
 */
export class StrayErrorCatcher {
  readonly #report: (stray: StrayError) => void;
  readonly #untiedIsConfidential: () => boolean;

  constructor(report: (stray: StrayError) => void, untiedIsConfidential: () => boolean) {
    this.#report = report;
    this.#untiedIsConfidential = untiedIsConfidential;
    if (open.size === 0) {
      process.on('uncaughtException', onStrayError);
      process.on('unhandledRejection', onStrayError);
    }
    open.add(this);
  }

  /** Runs `fn(...args)` as code of the message `id`, so that errors from work it leaves behind are tied to it. */
  run<A extends unknown[], T>(id: string, ctx: MessageContext, fn: (...args: A) => T, ...args: A): T {
    return handling.run({ id, ctx, catcher: this }, fn, ...args);
  }

  /** Stops catching; with no catcher left open, the thread's errors are Node's again. */
  stop(): void {
    if (!open.delete(this) || open.size > 0) return;
    process.off('uncaughtException', onStrayError);
    process.off('unhandledRejection', onStrayError);
  }

  /** @internal For the thread's listener: an error from work of a message this runtime ran. */
  reportTied({ id, ctx }: Handling, error: unknown): void {
    const deadLettered = ctx.failLate(Reasons.unhandledError, error, isRetryable(error));
    const text = ctx.confidential ? WITHHELD : describeWithStack(error);
    this.#report({ id, handler: ctx.handler, text, deadLettered });
  }

  /** @internal For the thread's listener: an error no open runtime can claim. */
  reportUntied(error: unknown): void {
    this.#report({ text: this.#untiedIsConfidential() ? WITHHELD : describeWithStack(error), deadLettered: false });
  }
}

/** The log line of a stray error: the same words in every thread mode. */
export function strayErrorMessage(stray: StrayError): string {
  const whose = stray.handler ? `handler ${stray.handler} ` : '';
  const what = stray.deadLettered
    ? 'its message is a dead letter "unhandled error"'
    : stray.id
      ? 'its message was already settled, so the outcome stands'
      : 'it could not be tied to a message';
  return `work ${whose}started and did not await failed: ${what}; await it, or catch its errors`;
}
