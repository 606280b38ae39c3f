/**
 * The dead-letter store: where a message that cannot be processed is kept, with why, until someone inspects,
 * replays or purges it. Stores are async and batch-oriented: `put` takes many letters and resolves only once they
 * are durable, because the pipeline acks the transport right after.
 *
 * A letter is one message: it is stored under its key (see `letterKey`: a digest of source, id and body), never
 * under the id alone, because transports reuse ids for different messages. The same message failing again
 * updates its letter; a different message with the same id gets a letter of its own.
 */

/** Who wrote a dead letter: the processor's name, the host and the process id. */
export interface Fingerprint {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly version?: string;
}

/** A dead letter as the pipeline hands it to a store. */
export interface DeadLetterInput {
  /**
   * The message id (the transport's, or the generated one). Putting the same message again (same source, id and
   * body) updates its letter; a different body or source with this id is another letter.
   */
  readonly id: string;
  readonly body: Buffer;
  /** Stable, short: `no matching handler`, `handler failed`, `nacked`, `timeout after 500 ms`... */
  readonly reason: string;
  /** The error message and stack, when an error caused it. */
  readonly error?: string | null;
  /** The handler's name, when one was chosen. */
  readonly handler?: string | null;
  /** Where the message came from (`stdin`, `amqp:orders`...). */
  readonly source?: string | null;
  /** Transport metadata, stored as JSON. */
  readonly headers?: Readonly<Record<string, unknown>> | null;
  /** How many times processing was attempted; defaults to 1. */
  readonly attempts?: number;
  /** When it failed; defaults to now. */
  readonly failedAt?: Date;
  readonly fingerprint?: Fingerprint | null;
  /** The body must not be shown or logged unless asked for (a confidential handler or message class). */
  readonly confidential?: boolean;
}

/** A stored dead letter. */
export interface DeadLetter {
  /** What identifies this letter in its store: a hex digest of source, id and body (see `letterKey`). */
  readonly key: string;
  /** The message id; several letters can share one. */
  readonly id: string;
  readonly body: Buffer;
  readonly reason: string;
  readonly error: string | null;
  readonly handler: string | null;
  readonly source: string | null;
  readonly headers: Record<string, unknown> | null;
  readonly attempts: number;
  readonly firstFailedAt: Date;
  readonly lastFailedAt: Date;
  readonly fingerprint: Fingerprint | null;
  /** Shown masked by `missive dlq show` unless `--reveal`. */
  readonly confidential: boolean;
}

/** Which dead letters a query is about. Every field narrows the selection; none selects all. */
export interface DlqFilter {
  /** Exact reason, or a prefix ending in `*` (`timeout*`). */
  readonly reason?: string;
  readonly handler?: string;
  /** Letters whose last failure is at or after this time. */
  readonly since?: Date;
}

export interface DlqListOptions extends DlqFilter {
  /** Default 100. */
  readonly limit?: number;
  /** Default 0. */
  readonly offset?: number;
}

/** The one interface every dead-letter store implements. */
export interface Dlq extends AsyncIterable<DeadLetter> {
  /**
   * Whether a letter survives the process once `put` resolved (a file, a database), so that acking its message is
   * safe. `missive run` takes only durable stores: a message acked into memory is gone at exit.
   */
  readonly durable: boolean;
  /**
   * Stores letters and resolves once they are durable. A letter whose key is already stored (the same message
   * failed again) replaces its reason, error, handler, headers and fingerprint, keeps `firstFailedAt`, and sets
   * `attempts` to the larger of the stored count + 1 and the new one. Any other letter is added, whatever its id.
   */
  put(letters: readonly DeadLetterInput[]): Promise<void>;
  /**
   * The letter with this key; failing that, the letter with this message id that failed last (see `findById`
   * for all of them).
   */
  get(keyOrId: string): Promise<DeadLetter | undefined>;
  /** Every letter with this message id, oldest first failure first. */
  findById(id: string): Promise<DeadLetter[]>;
  /** Deletes letters by key, exactly those; resolves with how many existed. */
  delete(keys: string | readonly string[]): Promise<number>;
  count(filter?: DlqFilter): Promise<number>;
  /** Oldest first (by first failure), then by id, then by key. */
  list(options?: DlqListOptions): Promise<DeadLetter[]>;
  /** The letter that failed first, if any. */
  oldest(): Promise<DeadLetter | undefined>;
  /** Releases the store. Pending puts complete first. */
  close(): Promise<void>;
}
