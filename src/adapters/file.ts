import { constants, fstatSync, read as readFd } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { isatty } from 'node:tty';
import { promisify } from 'node:util';
import type { Delivery } from '../delivery.js';
import type { LineBlock } from '../line-block.js';
import { InvalidOptionError, MissiveError, describe } from '../errors.js';
import type { Adapter, AdapterOpenOptions } from './adapter.js';
import type { CommonAdapterOptions } from './spec.js';
import { PipeReader } from './pipe-reader.js';
import {
  LineCutter,
  LineSplitter,
  resolveBlockBytes,
  resolveMaxMessageBytes,
  type LineAdapterOptions,
  type LineSplitterOptions,
} from './lines.js';

/**
 * An input file cannot be read: missing, unreadable, a directory, or failing mid-read. Raised by `open()` before
 * any line of any input is emitted, or as the stream's error when a read fails later.
 */
export class InputError extends MissiveError {
  /** The path as it was given. */
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(
      'MISSIVE_ERR_INPUT',
      path === STDIN_PATH
        ? `cannot read standard input (-): ${reasonOf(cause)}; check the command that feeds it`
        : `cannot read the input file ${path}: ${reasonOf(cause)}; check the path and its permissions`,
      { cause },
    );
    this.path = path;
  }
}

/** Options of a {@link FileAdapter}. */
export interface FileAdapterOptions extends LineAdapterOptions {
  /** The stream a `-` path reads. Default `process.stdin`. */
  readonly stdin?: Readable;
  /** Where a file that shrinks while it is read is reported. Default: nowhere. */
  readonly log?: CommonAdapterOptions['log'];
}

/** The input name that means standard input. */
export const STDIN_PATH = '-';

/**
 * Reads one or more line-delimited files in order (`-` is standard input), one message per line, as one stream of
 * `Delivery[]` batches. Each input has its own id prefix and `meta.source` (`file:<path as given>`, or `stdin`).
 * Files cannot redeliver, so `canRequeue` is false and a nacked line becomes a dead letter; ack is a no-op.
 */
export class FileAdapter implements Adapter<undefined> {
  /** @inheritdoc */
  readonly name = 'file';
  /** @inheritdoc */
  readonly canRequeue = false;
  /** @inheritdoc */
  readonly client = undefined;
  readonly #paths: readonly string[];
  readonly #stdin: Readable | undefined;
  readonly #maxMessageBytes: number;
  readonly #blockBytes: number;
  readonly #log: CommonAdapterOptions['log'];
  #maxBlockLines: number | undefined;
  /** Threads that run the blocks (see `AdapterOpenOptions.parallelism`). */
  #parallelism = 1;
  #stopped = false;
  #opened = false;
  /** The splitter of standard input while it is read, destroyed by stop() to wake a read that waits for data. */
  #current: LineSplitter | null = null;
  /** The reader of a pipe on standard input while it is read, interrupted by stop() for the same reason. */
  #pipe: PipeReader | null = null;
  #output: Readable | null = null;

  /**
   * @param paths Inputs read in this order; `-` reads `options.stdin`, at most once.
   * @param options Line options and the stream behind `-`.
   */
  constructor(paths: readonly string[], options: FileAdapterOptions = {}) {
    if (paths.length === 0) throw new InvalidOptionError('give at least one input file, or - for standard input');
    if (paths.filter((path) => path === STDIN_PATH).length > 1) {
      throw new InvalidOptionError('standard input (-) can be read only once: give - at most once');
    }
    this.#paths = [...paths];
    this.#stdin = options.stdin;
    this.#maxMessageBytes = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#blockBytes = resolveBlockBytes(options.blockBytes);
    this.#log = options.log ?? (() => {});
  }

  /** The inputs, in reading order. */
  get paths(): readonly string[] {
    return this.#paths;
  }

  /** Checks every input is readable, then starts reading the first. Fails with an {@link InputError} naming it. */
  async open(options?: AdapterOpenOptions): Promise<Readable> {
    if (this.#opened) throw new InvalidOptionError(`the ${this.name} adapter is already open; open it once`);
    this.#opened = true;
    this.#maxBlockLines = options?.maxBlockLines;
    this.#parallelism = Math.max(1, options?.parallelism ?? 1);
    // All up front: a typo in the third path must not surface after the first two files were processed.
    await Promise.all(this.#paths.filter((path) => path !== STDIN_PATH).map(checkReadable));
    // A block is a read's worth of lines: a block of read-ahead keeps the reader busy and memory flat.
    this.#output = Readable.from(this.#batches(), { objectMode: true, highWaterMark: 1 });
    return this.#output;
  }

  /** No-op: a line read is a line done with. */
  ack(): void {}

  /** No-op: never called, as files cannot redeliver (the pipeline dead-letters a nacked line instead). */
  nack(): void {}

  /** Stops reading: the stream emits what it already holds, then ends. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#current?.destroy();
    this.#pipe?.interrupt();
  }

  /** Stops reading and releases the open file. */
  async close(): Promise<void> {
    await this.stop();
    this.#output?.destroy();
  }

  async *#batches(): AsyncGenerator<Delivery[] | LineBlock> {
    for (const path of this.#paths) {
      if (this.#stopped) return;
      try {
        yield* path === STDIN_PATH ? this.#readStdin() : this.#readFile(path);
      } catch (error) {
        if (this.#stopped) return;
        throw error instanceof InputError ? error : new InputError(path, error);
      }
    }
  }

  #options(source: string, idPrefix?: string): LineSplitterOptions {
    return {
      source,
      idPrefix,
      maxMessageBytes: this.#maxMessageBytes,
      blockBytes: this.#blockBytes,
      maxBlockLines: this.#maxBlockLines,
    };
  }

  /** Reads a file a block at a time, straight into the memory of its blocks (see {@link #readBlocks}). */
  async *#readFile(path: string): AsyncGenerator<Delivery[] | LineBlock> {
    const file = await open(path, 'r');
    try {
      // A regular file's size at the start says whether reading reached its end or it shrank meanwhile; a FIFO or
      // device has no size to go by.
      const info = await file.stat();
      yield* this.#readBlocks(file, this.#options(`file:${path}`, path), info.isFile() ? info.size : 0, path);
    } finally {
      await file.close();
    }
  }

  /**
   * Reads `input` a block at a time (smaller near its end, see {@link tailReadBytes}), straight into the shared
   * memory of the block the read completes (see `LineCutter.reserve`), so no byte is copied in this thread; the next
   * read waits until the stream wants more. `size` is the input's size (0: unknown); with a `path`, reading fewer
   * bytes than that is reported as the file shrinking while it was read.
   */
  async *#readBlocks(
    input: BlockSource,
    options: LineSplitterOptions,
    size: number,
    path?: string,
  ): AsyncGenerator<Delivery[] | LineBlock> {
    const cut: (Delivery[] | LineBlock)[] = [];
    const cutter = new LineCutter(options, (chunk) => cut.push(chunk));
    let read = 0;
    for (;;) {
      if (this.#stopped) return;
      const target = cutter.reserve(size > 0 ? tailReadBytes(size - read, this.#parallelism) : undefined);
      const { bytesRead } = await input.read(target, 0, target.length, null);
      cutter.commit(bytesRead);
      read += bytesRead;
      if (bytesRead === 0) break;
      yield* cut.splice(0);
    }
    if (path !== undefined && read < size) {
      const why = `${path} shrank from ${size} to ${read} bytes while it was read`;
      const line = cutter.endTruncated(why);
      this.#log(
        'warn',
        `${why}: the lines after byte ${read} were not read${line ? `; line ${line} is cut short, stored as a dead letter "input truncated"` : ''}`,
        {
          path,
          expectedBytes: size,
          readBytes: read,
        },
      );
    }
    cutter.end();
    yield* cut.splice(0);
  }

  /**
   * Reads standard input. The process's own standard input is read as a file is, whatever it is: a regular file
   * (`< file`) by blocks of its size, a pipe or socket (`cat file |`) by a {@link PipeReader} into the blocks'
   * memory; a terminal, or a stream given in the options, through a splitter.
   */
  async *#readStdin(): AsyncGenerator<Delivery[] | LineBlock> {
    if (this.#stdin === undefined && !isatty(STDIN_FD)) {
      const info = fstatSync(STDIN_FD);
      // Read from where the descriptor stands, which a shell may have moved: its size only balances the blocks.
      if (info.isFile()) {
        yield* this.#readBlocks(STDIN_BLOCKS, this.#options('stdin'), info.size);
        return;
      }
      if (info.isFIFO() || info.isSocket()) {
        yield* this.#readPipe();
        return;
      }
    }
    yield* this.#readStream(this.#stdin ?? process.stdin);
  }

  /**
   * Reads a pipe or socket on standard input. Its size is unknown, so blocks start small and grow with what was read
   * (a share of it, as {@link tailReadBytes} cuts a file's end): a short input still spreads over every thread, a
   * long one soon moves in whole blocks.
   */
  async *#readPipe(): AsyncGenerator<Delivery[] | LineBlock> {
    // Creating the stream makes the descriptor non-blocking, which the reader's reads rely on.
    const stream = process.stdin;
    const reader = new PipeReader(STDIN_FD, stream);
    this.#pipe = reader;
    const cut: (Delivery[] | LineBlock)[] = [];
    const cutter = new LineCutter(this.#options('stdin'), (chunk) => cut.push(chunk));
    let read = 0;
    try {
      while (!reader.ended && !this.#stopped) {
        const target = cutter.reserve(pipeReadBytes(read, this.#parallelism));
        const filled = await reader.fill(target);
        cutter.commit(filled);
        read += filled;
        yield* cut.splice(0);
      }
      if (this.#stopped) return;
      cutter.end();
      yield* cut.splice(0);
    } finally {
      this.#pipe = null;
      reader.close();
    }
  }

  /** Reads a stream of bytes through a splitter, which pauses it whenever it is full. */
  async *#readStream(stdin: Readable): AsyncGenerator<Delivery[] | LineBlock> {
    const splitter = new LineSplitter(this.#options('stdin'));
    this.#current = splitter;
    // pipe, not pipeline: standard input is not ours to destroy, only to stop reading.
    const onError = (error: unknown) => splitter.destroy(new InputError(STDIN_PATH, error));
    stdin.once('error', onError);
    splitter.once('close', () => {
      stdin.off('error', onError);
      stdin.unpipe(splitter);
      stdin.pause();
    });
    stdin.pipe(splitter);
    try {
      for await (const batch of splitter as AsyncIterable<Delivery[] | LineBlock>) {
        if (this.#stopped) return;
        yield batch;
      }
    } finally {
      this.#current = null;
    }
  }
}

/** Resolves if `path` can be opened for reading as a stream (a file, FIFO or device, not a directory). */
async function checkReadable(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
    const info = await stat(path);
    if (info.isDirectory()) {
      throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
    }
  } catch (error) {
    throw new InputError(path, error);
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
};

/** The OS reason in words, with its code so it can be searched for. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in REASONS) return `${REASONS[code]} (${code})`;
  return describe(error);
}

/**
 * The most to read next from a pipe of unknown length after `read` bytes, with `threads` threads: one thread takes
 * whole blocks; several take a share of what came so far (as {@link tailReadBytes} does of what is left), so an input
 * that turns out short was still cut fine enough for every thread.
 */
function pipeReadBytes(read: number, threads: number): number | undefined {
  if (threads === 1) return undefined;
  return Math.max(MIN_TAIL_READ_BYTES, Math.ceil(read / (2 * threads)));
}

/** The descriptor of standard input. */
const STDIN_FD = 0;

/** What {@link FileAdapter} reads blocks from: an open file, or standard input's descriptor. */
interface BlockSource {
  read(buffer: Buffer, offset: number, length: number, position: null): Promise<{ bytesRead: number }>;
}

const readDescriptor = promisify(readFd);
/** Standard input's descriptor as a {@link BlockSource}: reads from where it stands, and is never closed here. */
const STDIN_BLOCKS: BlockSource = {
  read: (buffer, offset, length, position) => readDescriptor(STDIN_FD, buffer, offset, length, position),
};

/** The finest a file's last blocks are cut: below it, a block's fixed cost (a read, a hand-over) outweighs it. */
const MIN_TAIL_READ_BYTES = 128 * 1024;

/**
 * The most to read next, with `left` bytes of the file still to read by `threads` threads: at most a share of them,
 * 1 / (2 × threads). The last block decides when a run ends: one 4 MiB block on one worker while the others wait
 * for nothing would cost ~70 ms, and a 4 MiB file would be one block on one thread. Cut finer as the end nears,
 * every thread works until the last moment, and a small file spreads over all of them. Each block costs the main
 * thread a read and a hand-over, so no finer than that: a sixteenth of what is left, whatever the threads, made a
 * 268 MB file 118 blocks instead of 77 with two threads.
 */
function tailReadBytes(left: number, threads: number): number {
  if (threads === 1) return left;
  return Math.max(MIN_TAIL_READ_BYTES, Math.ceil(left / (2 * threads)));
}
