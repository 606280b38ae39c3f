// What a handler and its hooks are given: the contracts, implemented in workers/context.ts.
import type { DeliveryMeta } from './delivery.js';

/** Per-thread context shared by every handler that runs in one thread. */
export interface ProcessingContext {
  /**
   * Free-form per-thread state: put the database pool opened in `beforeProcessing` here. Typed `any` on purpose:
   * it holds whatever your hooks put there, and `unknown` would make every use a cast.
   */
  readonly state: Record<string, any>;
  /** The worker thread's id (0 for the main thread). */
  readonly threadId: number;
}

/** What a handler (and a handling hook) gets besides the message. */
export interface HandlerContext {
  /** Settles the message as handled. Returning without settling does the same. */
  ack(): void;
  /** Asks the transport to deliver the message again; where it cannot, the message becomes a dead letter `nacked`. */
  nack(): void;
  /**
   * Answers the message (request/reply), sent before it is acked: on RabbitMQ to its `replyTo` queue with its
   * `correlationId`. A string is sent as UTF-8, an object as JSON. On a transport that cannot reply, the message
   * becomes a dead letter `reply failed`.
   */
  reply(body: Buffer | string | object): void;
  /** Free-form state for this message, shared by the hooks and the handler (`any`, as for `processing.state`). */
  readonly state: Record<string, any>;
  /** The thread's context, with the state opened by `beforeProcessing`. */
  readonly processing: ProcessingContext;
  /** Transport metadata: headers, routing key, stream id, delivery count... The escape hatch. */
  readonly delivery: DeliveryMeta;
  /** Aborted when the handler times out or the run shuts down: pass it to fetch, database clients, timers. */
  readonly signal: AbortSignal;
  /** The name of the handler the message was routed to. */
  readonly handler: string;
  /** Which attempt this is, starting at 1. */
  readonly attempt: number;
  /** In `afterHandling`: what the handler (or an earlier hook) threw, if anything. */
  readonly error: unknown;
}
