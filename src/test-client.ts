import { randomUUID } from 'node:crypto';
import type { DeliveryMeta } from './delivery.js';
import { fingerprintOf } from './dlq/fingerprint.js';
import { letterFor } from './dlq/letter-for.js';
import { UnprocessableMessageError } from './errors.js';
import { Message } from './message.js';
import { Reasons, deadLetter, type Outcome } from './outcome.js';
import { backoffDelay, shouldRetry } from './retry.js';
import { isConfidential } from './confidential.js';
import type { Processor } from './processor.js';
import { chooseRoute } from './routing.js';
import { ThreadRuntime } from './workers/runtime.js';

/** Options for a test client. */
export interface TestClientOptions {
  /** The `source` recorded with dead letters and shown in `ctx.delivery.source`. Default `test`. */
  readonly source?: string;
}

/** Per-message options for `send`. */
export interface SendOptions {
  /** The message id. Default: a random UUID. */
  readonly id?: string;
  /** Transport metadata the handler sees as `ctx.delivery`. */
  readonly meta?: DeliveryMeta;
}

/** What `send` resolves with. */
export interface SendResult {
  readonly outcome: 'acked' | 'nacked' | 'dead-lettered';
  /** The dead-letter reason, when there is one. */
  readonly reason?: string;
  /** The dead-letter error text, when there is one. */
  readonly error?: string | null;
}

/** A message the test client stored as a dead letter, and why. */
export interface TestDeadLetter<M> {
  readonly message: M;
  readonly reason: string;
  readonly error: string | null;
}

/** What `send` accepts: a message, its bytes, a string, or a value to send as JSON. */
export type Sendable<M> = M | Buffer | Uint8Array | string | object;

/**
 * Runs messages through a processor in the calling thread with the same routing and settling rules as a real
 * run, with no transport and no workers. Processing hooks run on the first `send`; `close()` runs
 * `afterProcessing`. Without a dead-letter store set on the processor, a message that would become a dead letter
 * makes `send` reject, so a test sees the failure.
 */
export class TestClient<M extends Message<unknown>> {
  /** Messages the handler acked (explicitly or by returning). */
  readonly acked: M[] = [];
  /** Messages the handler nacked. The test client cannot redeliver, so they also become dead letters `nacked`. */
  readonly nacked: M[] = [];
  /** Messages stored as dead letters, with the reason. */
  readonly deadLettered: TestDeadLetter<M>[] = [];
  /** Reports that did not change an outcome: a second `ack()`, an error thrown after settling... */
  readonly warnings: string[] = [];
  /** Answers handlers gave with `ctx.reply`. */
  readonly replies: { readonly message: M; readonly body: Buffer }[] = [];
  /** How many attempts each message took (retries included). */
  readonly attempts = new Map<M, number>();
  readonly #processor: Processor<M>;
  readonly #runtime: ThreadRuntime<M>;
  readonly #source: string;
  readonly #fingerprint;

  constructor(processor: Processor<M>, options: TestClientOptions = {}) {
    this.#processor = processor;
    this.#runtime = new ThreadRuntime(processor, 0, (warning) => this.warnings.push(warning.text));
    this.#source = options.source ?? 'test';
    this.#fingerprint = fingerprintOf(processor.name);
  }

  /** Runs one message through routing, hooks and handler, and settles it. */
  async send(input: Sendable<M>, options: SendOptions = {}): Promise<SendResult> {
    const message = this.#toMessage(input, options);
    await this.#runtime.start();
    const route = chooseRoute(this.#processor.routes, message);
    let outcome: Outcome = deadLetter(Reasons.noMatch, null);
    let handler: string | null = null;
    if (typeof route === 'number') {
      const { name, options: handlerOptions } = this.#processor.routes[route]!;
      handler = name;
      for (let attempt = 1; ; attempt++) {
        const result = await this.#runtime.runBatch([{ route, message, attempt }]);
        for (const warning of result.warnings) this.warnings.push(warning.text);
        for (const reply of result.replies ?? []) this.replies.push({ message, body: reply.body });
        outcome = result.outcomes[0]!;
        if (!shouldRetry(outcome, attempt, handlerOptions.retries ?? 0)) {
          this.attempts.set(message, attempt);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(handlerOptions.backoff, attempt)));
      }
    } else {
      outcome = route;
    }
    if (outcome.kind === 'ack') {
      this.acked.push(message);
      return { outcome: 'acked' };
    }
    if (outcome.kind === 'nack') {
      this.nacked.push(message);
      // Without a store a nack is still a deliberate outcome, not a failure to surface.
      if (!this.#processor.dlq) return { outcome: 'nacked' };
      outcome = deadLetter(Reasons.nacked, null);
    }
    const dlq = this.#processor.dlq;
    if (!dlq) throw new UnprocessableMessageError(outcome.reason, outcome.error);
    const meta = { source: this.#source, ...message.meta };
    const attempts = this.attempts.get(message) ?? 1;
    const confidential = isConfidential(this.#processor, typeof route === 'number' ? route : null);
    const letter = letterFor({ id: message.id, body: message.rawData, meta }, outcome, handler, this.#fingerprint, attempts, confidential);
    await dlq.put([letter]);
    this.deadLettered.push({ message, reason: outcome.reason, error: outcome.error });
    return { outcome: outcome.reason === Reasons.nacked ? 'nacked' : 'dead-lettered', reason: outcome.reason, error: outcome.error };
  }

  /** Runs the `afterProcessing` hooks if processing started. */
  async close(): Promise<void> {
    await this.#runtime.stop();
  }

  #toMessage(input: Sendable<M>, options: SendOptions): M {
    if (input instanceof Message) return input as M;
    const id = options.id ?? randomUUID();
    const meta = { source: this.#source, ...options.meta };
    return new this.#processor.MessageClass(toBytes(input), id, meta);
  }
}

function toBytes(input: unknown): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.from(JSON.stringify(input), 'utf8');
}
