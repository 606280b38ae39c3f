import { finished, type Readable } from 'node:stream';

/** What {@link ChunkReader.next} returns once the stream has ended: nothing more will come. */
export const ENDED: unique symbol = Symbol('ended');

/**
 * Reads an adapter's stream chunk by chunk, as `for await` does, without its cost per chunk: `for await` makes a
 * promise and a result object for every chunk and resumes the reader in a microtask, about a microsecond a chunk,
 * and a broker delivers a chunk per socket read (some 20 messages). Here a chunk already buffered is returned at
 * once; the reader waits (`ready()`) only when the stream has nothing buffered.
 *
 * The ending is `for await`'s: the stream's error is thrown, a stream that closes without ending throws
 * `ERR_STREAM_PREMATURE_CLOSE`, and `close()` destroys the stream, so an adapter that watches its stream's 'close'
 * stops consuming when the reader goes away.
 */
export class ChunkReader<T> {
  readonly #readable: Readable;
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #cleanup: () => void;
  readonly #onReadable = () => this.#resume();

  constructor(readable: Readable) {
    this.#readable = readable;
    readable.on('readable', this.#onReadable);
    this.#cleanup = finished(readable, { writable: false }, (error) => {
      this.#done = true;
      this.#error = error ?? undefined;
      this.#resume();
    });
  }

  /**
   * The next chunk if one is buffered; `undefined` when the reader must wait for `ready()` first; {@link ENDED}
   * once the stream has ended. Throws the stream's error.
   */
  next(): T | undefined | typeof ENDED {
    // A destroyed stream gives nothing more, whatever it still buffers.
    const chunk = this.#readable.destroyed ? null : (this.#readable.read() as T | null);
    if (chunk !== null) return chunk;
    if (this.#error) throw this.#error;
    return this.#done ? ENDED : undefined;
  }

  /** Resolves when `next()` may have something new: a chunk, the end, or an error. */
  ready(): Promise<void> {
    if (this.#done) return Promise.resolve();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Stops listening and destroys the stream, as leaving a `for await` loop does. */
  close(): void {
    this.#readable.off('readable', this.#onReadable);
    this.#cleanup();
    this.#readable.destroy();
  }

  #resume(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
