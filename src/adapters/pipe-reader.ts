import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Fills memory it is given from a pipe or socket, as full as the writer keeps it, with reads on this thread.
 *
 * Why not the stream: a stream hands over a pipe's bytes as 64 KiB chunks (the pipe's capacity), and every chunk
 * became a block and a task of its own, so standard input cost the main thread several times what a file does. Here
 * the bytes go straight into the memory the block is made of, and a block is handed over when it is full, when the
 * input ends, or when the writer has been quiet for {@link QUIET_MS} with bytes waiting, so a slow writer's lines
 * (`tail -f log | missive run ...`) are not held back.
 *
 * The reads are `readSync` on the descriptor, which the stream has made non-blocking: a read takes what the pipe
 * holds now or fails with EAGAIN, and never waits. Only when the pipe is empty does it wait, for the stream's
 * `readable` event; the bytes the stream took meanwhile are taken first, so they keep their order. (The stream reads
 * at most its high-water mark ahead, so nothing unbounded is held.)
 */
export class PipeReader {
  readonly #fd: number;
  readonly #stream: Readable;
  /** The stream's bytes not taken yet (the rest of a chunk longer than the room a fill had). */
  #left: Buffer | null = null;
  #ended = false;
  #wake: (() => void) | null = null;
  #error: unknown;
  readonly #onError = (error: unknown) => {
    this.#error ??= error;
    this.#wake?.();
  };

  /**
   * @param fd the descriptor to read.
   * @param stream the stream over the same descriptor (`process.stdin`): creating it made the descriptor
   *   non-blocking, and its `readable` event says when the pipe has bytes again.
   */
  constructor(fd: number, stream: Readable) {
    this.#fd = fd;
    this.#stream = stream;
    stream.on('error', this.#onError);
  }

  /** True once the writer closed its end and every byte was given out. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Reads into `target` until it is full, the input ends, the pipe was empty for `quietMs` with some bytes read, or
   * {@link interrupt} is called. Returns the bytes read (0 only at the end or when interrupted).
   */
  async fill(target: Buffer, quietMs = QUIET_MS): Promise<number> {
    let filled = 0;
    while (filled < target.length && !this.#ended) {
      if (this.#error !== undefined) throw this.#error;
      const taken = this.#takeBuffered(target, filled);
      filled += taken;
      if (filled === target.length) break;
      if (taken === 0 && this.#stream.readableEnded) {
        this.#ended = true;
        break;
      }
      const read = this.#read(target, filled);
      if (read > 0) {
        filled += read;
        continue;
      }
      if (read === 0) {
        // The end of the pipe; whatever the stream took before it was taken just above.
        this.#ended = this.#left === null && this.#stream.readableLength === 0;
        if (this.#ended) break;
        continue;
      }
      // The pipe is empty: wait for the writer, but with bytes in hand only so long.
      if (!(await this.#readable(filled > 0 ? quietMs : undefined))) break;
    }
    return filled;
  }

  /** Wakes a {@link fill} that waits for the writer; it returns what it has. */
  interrupt(): void {
    this.#wake?.();
  }

  /** Stops listening to the stream, which stays open: it is not the reader's. */
  close(): void {
    this.#wake?.();
    this.#stream.off('error', this.#onError);
    this.#stream.pause();
  }

  /** Copies what the stream already took into `target` from `at`; returns the bytes copied. */
  #takeBuffered(target: Buffer, at: number): number {
    let copied = 0;
    for (;;) {
      const chunk: Buffer | null =
        this.#left ?? (this.#stream.readableLength > 0 ? (this.#stream.read() as Buffer | null) : null);
      this.#left = null;
      if (chunk === null) return copied;
      const room = target.length - at - copied;
      chunk.copy(target, at + copied, 0, Math.min(room, chunk.length));
      if (chunk.length > room) {
        this.#left = chunk.subarray(room);
        return copied + room;
      }
      copied += chunk.length;
    }
  }

  /** One read of what the pipe holds now: the bytes read, 0 at its end, -1 when it is empty for now. */
  #read(target: Buffer, at: number): number {
    try {
      return readSync(this.#fd, target, at, target.length - at, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return -1;
      throw error;
    }
  }

  /** Resolves true when the stream has bytes or ended, false after `ms` or when interrupted. */
  #readable(ms: number | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        this.#wake = null;
        this.#stream.off('readable', onReadable);
        this.#stream.off('end', onReadable);
        if (timer) clearTimeout(timer);
        resolve(ready);
      };
      const onReadable = () => done(true);
      this.#stream.on('readable', onReadable);
      this.#stream.on('end', onReadable);
      this.#wake = () => done(false);
      const timer = ms === undefined ? undefined : setTimeout(() => done(false), ms);
    });
  }
}

/**
 * How long bytes already read wait for more before their lines are handed over: long enough that a fast writer
 * fills whole blocks, short enough that nobody waits for a slow writer's lines.
 */
export const QUIET_MS = 5;
