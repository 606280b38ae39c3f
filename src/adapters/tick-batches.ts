import { Readable } from 'node:stream';
import type { Delivery } from '../delivery.js';

/**
 * Turns deliveries that arrive one at a time (AMQP deliveries, HTTP requests) into the adapter stream: one
 * `Delivery[]` per turn of the event loop, so everything one socket read brought travels as one chunk and the
 * stream costs little per message.
 *
 * It pushes whether or not the reader keeps up: the transport bounds how much can be waiting (the AMQP prefetch
 * window, the HTTP in-flight cap), so the stream never holds more than that. Deliveries that arrive after the stream
 * ended, or was destroyed by its reader, go to `onUnwanted` instead, so the adapter can give them back.
 */
export class TickBatches {
  /** The stream the adapter returns from `open()`. */
  readonly readable: Readable;
  readonly #onUnwanted: (deliveries: Delivery[]) => void;
  #pending: Delivery[] = [];
  #scheduled = false;
  #ended = false;

  /** @param onUnwanted Receives deliveries the stream can no longer take. */
  constructor(onUnwanted: (deliveries: Delivery[]) => void) {
    this.#onUnwanted = onUnwanted;
    this.readable = new Readable({ objectMode: true, read: () => {} });
  }

  /** Whether the stream has ended (or was destroyed): nothing more reaches the reader. */
  get ended(): boolean {
    return this.#ended || this.readable.destroyed;
  }

  /** Queues one delivery for the next batch. */
  add(delivery: Delivery): void {
    this.#pending.push(delivery);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Removes queued deliveries that must not be handed over any more (their channel died); returns them. */
  discard(unwanted: (delivery: Delivery) => boolean): Delivery[] {
    const removed = this.#pending.filter(unwanted);
    if (removed.length > 0) this.#pending = this.#pending.filter((delivery) => !unwanted(delivery));
    return removed;
  }

  /** Pushes what is queued now. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    if (this.ended) this.#onUnwanted(batch);
    else this.readable.push(batch);
  }

  /** Pushes what is queued, then ends the stream. */
  end(): void {
    if (this.#ended) return;
    this.flush();
    this.#ended = true;
    if (!this.readable.destroyed) this.readable.push(null);
  }

  /** Fails the stream: its reader sees `error`. */
  fail(error: Error): void {
    this.#ended = true;
    this.readable.destroy(error);
    const rest = this.#pending;
    this.#pending = [];
    if (rest.length > 0) this.#onUnwanted(rest);
  }
}
