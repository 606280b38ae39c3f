import type { DeliveryMeta } from '../delivery.js';
import { WITHHELD } from '../confidential.js';
import { describeWithStack } from '../errors.js';
import { ACK, NACK, deadLetter, type Outcome } from '../outcome.js';
// The contexts' contracts are the core's (hooks and routes are typed with them); this is their implementation.
import type { HandlerContext, ProcessingContext } from '../context.js';
export type { HandlerContext, ProcessingContext } from '../context.js';

/**
 * Where a context reports an attempt to settle its message again, or a failure after it was settled: one function
 * per batch, given the message's id and the text (already prefixed with the handler's name), not one per message.
 */
export type WarningSink = (id: string, text: string) => void;

/**
 * The context implementation. Its extra methods are for the code that runs handlers, not for users: they decide
 * the one outcome of the message and report every attempt to settle it again.
 */
export class MessageContext implements HandlerContext {
  readonly processing: ProcessingContext;
  readonly delivery: DeliveryMeta;
  readonly handler: string;
  readonly attempt: number;
  /** Keeps error text out of warnings, which end up in logs. */
  readonly confidential: boolean;
  error: unknown = undefined;
  #state: Record<string, any> | undefined;
  #controller: AbortController | undefined;
  #settled: Outcome | undefined;
  #failure: Outcome | undefined;
  #sealed = false;
  readonly #id: string;
  readonly #report: WarningSink;

  constructor(
    processing: ProcessingContext,
    delivery: DeliveryMeta,
    handler: string,
    attempt: number,
    id: string,
    report: WarningSink,
    confidential = false,
  ) {
    this.confidential = confidential;
    this.processing = processing;
    this.delivery = delivery;
    this.handler = handler;
    this.attempt = attempt;
    this.#id = id;
    this.#report = report;
  }

  get state(): Record<string, any> {
    return (this.#state ??= {});
  }

  // Created on first use: most handlers never look at the signal, and an AbortController per message is not free.
  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** What the handler answered, in order. */
  replies: Buffer[] | undefined;

  ack(): void {
    this.#settle(ACK);
  }

  reply(body: Buffer | string | object): void {
    if (this.#sealed) {
      this.#warn('reply() called after the handler returned; ignored');
      return;
    }
    const bytes = Buffer.isBuffer(body)
      ? body
      : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    (this.replies ??= []).push(bytes);
  }

  nack(): void {
    this.#settle(NACK);
  }

  /** Records a failure; the first one decides the dead letter, later ones are reported. */
  fail(reason: string, error: unknown, retryable = true): void {
    const text = this.confidential ? WITHHELD : describeWithStack(error);
    if (this.#sealed) {
      // A handler that fails after its timeout (often because of the abort) only confirms the outcome.
      if (this.#controller?.signal.aborted) return;
      this.#warn(`${reason} after the message was settled: ${text}`);
    } else if (this.#settled) {
      this.#warn(`${reason} after the handler settled the message (${this.#settled.kind} stands): ${text}`);
    } else if (this.#failure) {
      this.#warn(`${reason} after an earlier failure: ${text}`);
    } else {
      this.error = error;
      // The dead-letter store keeps the full error: it holds the body anyway, and is where the details belong.
      this.#failure = deadLetter(reason, describeWithStack(error), retryable);
    }
  }

  /**
   * Records a failure that came from outside the handler's own flow (see stray-errors.ts) and is reported there:
   * decides the dead letter if the message is still open, and says whether it did.
   */
  failLate(reason: string, error: unknown, retryable: boolean): boolean {
    if (this.#sealed || this.#settled || this.#failure) return false;
    this.error = error;
    this.#failure = deadLetter(reason, describeWithStack(error), retryable);
    return true;
  }

  /** Aborts `ctx.signal`, if anyone asked for it. */
  abort(reason: unknown): void {
    this.#controller?.abort(reason);
  }

  /** Fixes the outcome: the failure, else the explicit settle, else ack. Later settles are reported. */
  finish(): Outcome {
    this.#sealed = true;
    return this.#failure ?? this.#settled ?? ACK;
  }

  #warn(text: string): void {
    this.#report(this.#id, `${this.handler}: ${text}`);
  }

  #settle(outcome: Outcome): void {
    if (this.#sealed) {
      this.#warn(`${outcome.kind}() called after the handler returned; ignored`);
    } else if (this.#settled) {
      this.#warn(`${outcome.kind}() called after ${this.#settled.kind}(); the message is settled once, ignored`);
    } else if (!this.#failure) {
      this.#settled = outcome;
    }
  }
}
