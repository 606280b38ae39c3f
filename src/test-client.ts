import { randomUUID } from 'node:crypto';
import { MemoryAdapter, type MemoryDelivery, type MemorySettleKind, type MemorySettlement } from './adapters/memory.js';
import type { DeliveryMeta } from './delivery.js';
import { BorrowedDlq } from './dlq/borrowed.js';
import type { DeadLetterInput, Dlq } from './dlq/dlq.js';
import { MemoryDlq } from './dlq/memory.js';
import { ClosedError, InvalidOptionError } from './errors.js';
import type { LogLevel } from './log.js';
import { Message, type RawMessage } from './message.js';
import { Processor } from './processor.js';
import type { Backoff } from './retry.js';
import { moduleUrlOf, run, type Running } from './run.js';

/** Options for a test client. Every one has a default that suits a unit test. */
export interface TestClientOptions {
  /** The `source` recorded with dead letters and shown in `ctx.delivery.source`. Default `test`. */
  readonly source?: string;
  /**
   * Where this client stores dead letters. Default: a new `MemoryDlq` per client (`client.dlq`), so one test's
   * letters never show in another. A store set on the processor with `setDlq` is not used.
   */
  readonly dlq?: Dlq;
  /**
   * Worker threads running the handlers, as in a real run. Default 0: handlers run in this thread. With 1 or more
   * (and `module`), what only threads show is caught: routes a worker registers differently, values that cannot
   * cross threads, handlers that block their thread past their timeout.
   */
  readonly threads?: number;
  /** The processor module's URL, which the workers import: `new URL('./processor.js', import.meta.url)`. */
  readonly module?: string | URL;
  /**
   * The wait before every retry, instead of each handler's `backoff`: `0` retries at once, so a handler with
   * `retries: 3` does not make the test sleep. A number of ms, or a backoff policy. Default: the handlers' own.
   */
  readonly retryDelays?: number | Backoff;
  /** Retries for handlers that set none, as `--retries`. Default 0. */
  readonly retries?: number;
  /** Timeout in ms for handlers that set none, as `--timeout`. Default 0: none. */
  readonly timeoutMs?: number;
  /**
   * A message delivered more times than this (each nack delivers it again) becomes a dead letter
   * `too many deliveries`. Default 5.
   */
  readonly maxDeliveries?: number;
}

/** Per-message options for `send`. */
export interface SendOptions {
  /** The message id. Default: a random UUID. */
  readonly id?: string;
  /** Transport metadata the handler sees as `ctx.delivery` (copied as it would be to a worker thread). */
  readonly meta?: DeliveryMeta;
}

/** What `send` resolves with: what finally became of the message. */
export interface SendResult {
  /**
   * `acked`: handled. `dead-lettered`: stored in the client's store (then acked). A nacked message is delivered
   * again, so a nack followed by a success is `acked`, and one nacked past `maxDeliveries` is `dead-lettered`.
   */
  readonly outcome: 'acked' | 'dead-lettered';
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
 * Runs messages through a processor the way `missive run` does: `run()` on a {@link MemoryAdapter}, with the
 * real routing, settling, retries, redelivery after a nack and, with `threads`, real worker threads. Each `send`
 * resolves once its message is settled. The run starts at the first `send` (processing hooks run then);
 * `close()` lets it finish and runs `afterProcessing`. Each client has its own dead-letter store.
 */
export class TestClient<M extends Message<unknown>> {
  /** Messages the transport saw acked: handled ones and dead-lettered ones (a dead letter is acked once stored). */
  readonly acked: M[] = [];
  /** Messages acked as handled (explicitly or by returning). */
  readonly handled: M[] = [];
  /** One entry per nack; each nacked message is delivered again (`meta.deliveryCount` one higher). */
  readonly nacked: M[] = [];
  /** Messages stored as dead letters, with the reason. */
  readonly deadLettered: TestDeadLetter<M>[] = [];
  /**
   * Reports that did not change an outcome: a second `ack()`, an error thrown after settling... With threads, a
   * report made after its batch was answered goes to the worker's stderr instead.
   */
  readonly warnings: string[] = [];
  /**
   * What the run logged as errors: work handlers did not await that failed (with `threads: 0`, such errors from
   * anywhere in the process while the client is open; with threads, from anywhere in the workers), a worker that
   * exited; `unhandledErrors` counts the first.
   */
  readonly errors: string[] = [];
  /** How many attempts each acked message took (retries and earlier deliveries included). */
  readonly attempts = new Map<M, number>();
  /** The client's dead-letter store: the `dlq` option, or its own `MemoryDlq`. */
  readonly dlq: Dlq;
  readonly #processor: Processor<M>;
  readonly #options: TestClientOptions;
  readonly #adapter: MemoryAdapter;
  readonly #letters: RecordingDlq;
  readonly #messages = new WeakMap<MemoryDelivery, M>();
  readonly #results = new WeakMap<MemoryDelivery, SendResult>();
  /** The attempt number of the latest retry of each message id, from the run's `retrying` events. */
  readonly #retried = new Map<string, number>();
  #running: Promise<Running> | undefined;
  /** The run, once it has started. */
  #started: Running | undefined;
  #closed = false;

  constructor(processor: Processor<M>, options: TestClientOptions = {}) {
    const { source = 'test', dlq, maxDeliveries } = options;
    if (dlq !== undefined && (typeof dlq !== 'object' || dlq === null || typeof dlq.put !== 'function')) {
      throw new InvalidOptionError('testClient({ dlq }): a dead-letter store, such as new MemoryDlq()');
    }
    this.#processor = processor;
    this.#options = options;
    this.dlq = dlq ?? new MemoryDlq();
    this.#letters = new RecordingDlq(this.dlq);
    this.#adapter = new MemoryAdapter({
      source,
      maxDeliveries,
      onSettle: (kind, delivery) => this.#record(kind, delivery),
    });
  }

  /** Answers handlers gave with `ctx.reply`, with the message each answered. */
  get replies(): { readonly message: M; readonly body: Buffer }[] {
    return this.#adapter.replies.map(({ delivery, body }) => ({ message: this.#messageOf(delivery), body }));
  }

  /** Errors from work handlers started and did not await, caught in any thread (counted, as in a run's figures). */
  get unhandledErrors(): number {
    return this.#started?.stats.unhandledErrors ?? 0;
  }

  /**
   * Publishes one message and resolves with what finally became of it, after any retries and redeliveries.
   * Rejects when the run cannot start or fails (a `beforeProcessing` hook threw, the workers register other
   * routes), and at once for metadata that could not cross to a worker thread.
   */
  async send(input: Sendable<M>, options: SendOptions = {}): Promise<SendResult> {
    if (this.#closed)
      throw new ClosedError('TestClient.send(): the client is closed; make another with processor.testClient()');
    const { body, id, meta } = this.#toPublish(input, options);
    const running = await this.#start();
    let settled: Promise<MemorySettlement>;
    try {
      settled = this.#adapter.publish(body, { id, meta });
    } catch (error) {
      // The transport ended because the run failed: say why it failed, not that the transport ended.
      if (error instanceof ClosedError) await running.done;
      throw error;
    }
    return this.#resultOf(await Promise.race([settled, failureOf(running)]), running);
  }

  /**
   * Lets the run finish what was sent (every `send` settled) and stops it: `afterProcessing` runs, worker threads
   * end. Rejects if the run failed. Call it when a test with `threads` ends, or the threads keep the process alive.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const running = await this.#running?.catch(() => undefined);
    if (!running) return;
    this.#adapter.end();
    await running.done;
  }

  #start(): Promise<Running> {
    return (this.#running ??= this.#launch());
  }

  async #launch(): Promise<Running> {
    const { threads = 0, module, retryDelays, retries, timeoutMs } = this.#options;
    if (threads > 0 && module !== undefined) await this.#checkModule(module);
    const running = await run(this.#processor, {
      adapter: this.#adapter,
      dlq: this.#letters,
      threads,
      module,
      retryDelays,
      retries,
      timeoutMs,
      // A test sends one message and waits for it: nothing to wait for before handing it over.
      lingerMs: 0,
      logger: (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
        if (level === 'warn' && message !== 'dead letter') this.warnings.push(message);
        // The run's `error` field is a described error (a string); String() keeps anything else readable.
        if (level === 'error')
          // eslint-disable-next-line @typescript-eslint/no-base-to-string
          this.errors.push(fields?.['error'] === undefined ? message : `${message}: ${String(fields['error'])}`);
      },
    });
    running.on('retrying', ({ id, attempt }) => this.#retried.set(id, attempt));
    this.#started = running;
    return running;
  }

  /** The workers import `module`: it must be this processor's, or the test would run another one there. */
  async #checkModule(module: string | URL): Promise<void> {
    const url = moduleUrlOf(module)!;
    const imported = (await import(url)) as { default?: unknown };
    if (imported.default !== this.#processor) {
      throw new InvalidOptionError(
        `testClient({ module }): ${url} does not default-export the processor testClient was called on; pass the ` +
          "URL of that processor's module, e.g. new URL('./processor.js', import.meta.url)",
      );
    }
  }

  /** Keeps the client's view of each settle, as it happens. */
  #record(kind: MemorySettleKind, delivery: MemoryDelivery): void {
    const message = this.#messageOf(delivery);
    if (kind === 'nacked') {
      this.nacked.push(message);
      return;
    }
    this.acked.push(message);
    const retried = this.#retried.get(delivery.id) ?? 0;
    this.#retried.delete(delivery.id);
    if (kind === 'handled') {
      this.handled.push(message);
      this.attempts.set(message, Math.max(delivery.deliveryCount, retried));
      this.#results.set(delivery, { outcome: 'acked' });
      return;
    }
    const letter = this.#letters.latest(delivery.id);
    const reason = letter?.reason ?? 'unknown';
    const error = letter?.error ?? null;
    this.deadLettered.push({ message, reason, error });
    this.attempts.set(message, letter?.attempts ?? delivery.deliveryCount);
    this.#results.set(delivery, { outcome: 'dead-lettered', reason, error });
  }

  async #resultOf(settlement: MemorySettlement, running: Running): Promise<SendResult> {
    const result = settlement.delivery && this.#results.get(settlement.delivery);
    if (settlement.outcome !== 'unsettled' && result) return result;
    // Left unsettled: the run ended first. If it failed, that is the answer.
    await running.done;
    throw new ClosedError(`TestClient.send(): the run ended before message ${settlement.id} was settled`);
  }

  #messageOf(delivery: MemoryDelivery): M {
    let message = this.#messages.get(delivery);
    if (!message) {
      try {
        message = new this.#processor.MessageClass(delivery.body, delivery.id, delivery.meta);
      } catch {
        // A message class that refuses these bytes: the run made them a dead letter; the record keeps the bytes.
        message = new Message(delivery.body, delivery.id, delivery.meta) as unknown as M;
      }
      this.#messages.set(delivery, message);
    }
    return message;
  }

  #toPublish(input: Sendable<M>, options: SendOptions): { body: Buffer; id: string; meta: DeliveryMeta | undefined } {
    if (input instanceof Message)
      return { body: input.rawData, id: options.id ?? input.id, meta: options.meta ?? input.meta };
    return { body: toBytes(input), id: options.id ?? randomUUID(), meta: options.meta };
  }
}

/** Rejects when the run fails; never resolves otherwise. */
function failureOf(running: Running): Promise<never> {
  return new Promise((_, reject) => {
    running.done.catch(reject);
  });
}

function toBytes(input: unknown): Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.from(JSON.stringify(input), 'utf8');
}

/** The client's store, seen through: the letters the run stores, latest by id, so `send` can say why. */
class RecordingDlq extends BorrowedDlq {
  readonly #latest = new Map<string, DeadLetterInput>();

  latest(id: string): DeadLetterInput | undefined {
    return this.#latest.get(id);
  }

  // Left open by close(), as a borrowed store is: the client's store outlives its runs (the test reads it after).
  override async put(letters: readonly DeadLetterInput[]): Promise<void> {
    await this.store.put(letters);
    for (const letter of letters) this.#latest.set(letter.id, letter);
  }
}

declare module './processor.js' {
  interface Processor<M extends Message<unknown> = RawMessage> {
    /**
     * A {@link TestClient} for this processor: messages run through `run()` on an in-memory transport, with
     * the real routing, settling, retries and redelivery, and real worker threads when `threads` is set.
     */
    testClient(options?: TestClientOptions): TestClient<M>;
  }
}

// Defined here, above run(), so that the processor module does not import the pipeline it is run by.
Processor.prototype.testClient = function testClient<M extends Message<unknown>>(
  this: Processor<M>,
  options?: TestClientOptions,
) {
  return new TestClient(this, options);
};
