import type { Readable } from 'node:stream';
import type { Adapter, AdapterOpenOptions } from './adapter.js';
import { FileAdapter, STDIN_PATH } from './file.js';
import type { LineAdapterOptions } from './lines.js';

/** Options of a {@link StdinAdapter}. */
export interface StdinAdapterOptions extends LineAdapterOptions {
  /** The stream to read lines from. Default `process.stdin`; tests pass any Readable of bytes. */
  readonly stream?: Readable;
}

/**
 * Reads line-delimited messages from standard input, one message per line, as a stream of `Delivery[]` batches
 * with `meta.source` `stdin`. Standard input cannot redeliver, so `canRequeue` is false and a nacked line becomes a
 * dead letter; ack is a no-op. `stop()` stops reading without destroying the stream, which is not the adapter's.
 */
export class StdinAdapter implements Adapter<undefined> {
  /** @inheritdoc */
  readonly name = 'stdin';
  /** @inheritdoc */
  readonly canRequeue = false;
  /** @inheritdoc */
  readonly client = undefined;
  // Standard input is the file "-": one reader, so both adapters split, stop and fail alike.
  readonly #reader: FileAdapter;

  /** @param options The stream to read (default `process.stdin`) and the line options. */
  constructor(options: StdinAdapterOptions = {}) {
    this.#reader = new FileAdapter([STDIN_PATH], { ...options, stdin: options.stream });
  }

  /** Starts reading. */
  open(options?: AdapterOpenOptions): Promise<Readable> {
    return this.#reader.open(options);
  }

  /** No-op: a line read is a line done with. */
  ack(): void {}

  /** No-op: never called, as standard input cannot redeliver (the pipeline dead-letters a nacked line instead). */
  nack(): void {}

  /** Stops reading: the stream emits what it already holds, then ends. */
  stop(): Promise<void> {
    return this.#reader.stop();
  }

  /** Stops reading; standard input itself is left open. */
  close(): Promise<void> {
    return this.#reader.close();
  }
}
