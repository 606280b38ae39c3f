import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Delivery } from '../delivery.js';
import { InvalidOptionError } from '../errors.js';
import { linesIn, LineIds, type LineBlock } from '../line-block.js';
import { BlockBuffers } from './block-buffers.js';
import { Reasons } from '../outcome.js';
import { SAMPLE_BYTES, sampleOf, tooLarge } from '../too-large.js';

/** Options shared by the line-delimited adapters (stdin, files). */
export interface LineAdapterOptions {
  /**
   * The longest line, in bytes (its line ending not counted), that becomes a message. A longer line is not
   * buffered: it becomes a dead letter "message too large" whose body is its first {@link SAMPLE_BYTES} bytes.
   * Default {@link DEFAULT_MAX_MESSAGE_BYTES} (1 MiB). CLI: `--max-message-bytes`.
   */
  readonly maxMessageBytes?: number;
  /**
   * The most input bytes read into one block, the unit handed to a worker (which splits it into lines). Larger
   * blocks cost the main thread less per message (each costs it a read and a hand-over, tens of µs); a file's
   * blocks shrink near its end (see `FileAdapter`), so a small file, or the tail of a large one, still spreads over
   * every thread. Standard input gives what each read returns (a pipe holds 64 KiB), up to this. Default
   * {@link DEFAULT_BLOCK_BYTES} (4 MiB). CLI: `--block-bytes`.
   */
  readonly blockBytes?: number;
}

/** Default for {@link LineAdapterOptions.maxMessageBytes}: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Default for {@link LineAdapterOptions.blockBytes}: 4 MiB, about 120,000 short JSON lines. Against 1 MiB it cut the
 * main thread's busy time per message from ~55 to ~33 ns on short lines (bench/pipeline.js); 8 MiB gained little more.
 */
export const DEFAULT_BLOCK_BYTES = 4 * 1024 * 1024;

/** Options of a {@link LineSplitter}. */
export interface LineSplitterOptions extends LineAdapterOptions {
  /** `meta.source` of every delivery: `stdin` or `file:<path as given>`. */
  readonly source: string;
  /**
   * Prefix of every delivery id (`<prefix>:<line>`). Default: a fresh {@link newRunPrefix}. Files use their path, so
   * a file run again gives the same ids and its failures update the same dead letters instead of doubling them.
   */
  readonly idPrefix?: string;
  /** The most lines a block holds (see `AdapterOpenOptions.maxBlockLines`). Default: no limit but the bytes. */
  readonly maxBlockLines?: number;
}

/**
 * A short random prefix that makes line ids unique across runs and inputs while staying readable (`k3f9a2xq:42`).
 * 40 random bits: collisions stay unlikely over a million runs sharing one dead-letter store.
 */
export function newRunPrefix(): string {
  return randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0');
}

/** Checks a `blockBytes` option and applies the default. */
export function resolveBlockBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_BLOCK_BYTES;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(`--block-bytes must be a whole number of bytes above 0, got ${String(value)}`);
  }
  return value;
}

/** Checks a `maxMessageBytes` option and applies the default. */
export function resolveMaxMessageBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(`--max-message-bytes must be a whole number of bytes above 0, got ${String(value)}`);
  }
  return value;
}

const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
/** A carry buffer grown past this for one long line is dropped afterwards instead of being kept for reuse. */
const CARRY_KEEP_BYTES = 64 * 1024;

/**
 * Cuts bytes at line boundaries: chunks in, and out, to `emit`, each a {@link LineBlock} of the whole lines a chunk
 * completes. The lines themselves are split where they are handled (a worker), so the cost
 * here is one copy and one count per chunk, never a visit per line.
 *
 * `\n` and `\r\n` end a line; one trailing `\r` is dropped from every line, the last one included. Blank lines are
 * skipped but counted, so the number in an id is the line's number in the input. A final line without a newline is
 * kept. A line over `maxMessageBytes` is never held whole: a partial line that passes the limit keeps only its first
 * {@link SAMPLE_BYTES} bytes, the rest is skipped up to the next newline, and it comes out as a one-delivery batch
 * with `rejected` set, so the pipeline stores it as a dead letter; a line over the limit that sits inside one
 * chunk is found by whoever splits its block.
 *
 * Blocks are never views of the input chunks: each is a copy into shared memory made for it, so a worker reads it
 * without another copy, and a message never pins unrelated memory (a partial line, Node's pool).
 */
export class LineCutter {
  readonly #emit: (chunk: LineBlock | Delivery[]) => void;
  readonly #max: number;
  readonly #blockBytes: number;
  readonly #maxBlockLines: number;
  readonly #buffers: BlockBuffers;
  /** The longest partial line kept before giving up on it: one more than the limit, for a `\r` of a `\r\n`. */
  readonly #carryLimit: number;
  /** `<prefix>:`, the start of every id. */
  readonly #idStart: string;
  readonly #ids: LineIds;
  readonly #source: string;
  #line = 0;
  /** Bytes of the current partial line, valid up to #carryLen. */
  #carry: Buffer | null = null;
  #carryLen = 0;
  /** Set while skipping the rest of a line over the limit: its first bytes, the length so far, its last byte. */
  #sample: Buffer | null = null;
  #sampleLen = 0;
  #skippedLen = 0;
  #skippedLast = 0;
  /** Memory handed out by {@link reserve} and not yet committed. */
  #reserved:
    | { readonly whole: Buffer; readonly free: Buffer; readonly hold: () => () => void; readonly carried: number }
    | undefined;

  /**
   * @param emit receives every block, and every one-delivery batch of a line over the limit, in input order. Each
   *   is made of copies: the chunks given to `write` can be reused as soon as it returns.
   */
  constructor(options: LineSplitterOptions, emit: (chunk: LineBlock | Delivery[]) => void) {
    this.#emit = emit;
    this.#max = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#blockBytes = resolveBlockBytes(options.blockBytes);
    this.#maxBlockLines = options.maxBlockLines ?? Number.POSITIVE_INFINITY;
    this.#carryLimit = this.#max + 1;
    // A block is one read plus the partial line carried in front of it, which is short but for rare long lines
    // (those blocks get memory of their own).
    this.#buffers = new BlockBuffers(this.#blockBytes + CARRY_KEEP_BYTES);
    this.#idStart = `${options.idPrefix ?? newRunPrefix()}:`;
    this.#ids = new LineIds(this.#idStart);
    this.#source = options.source;
  }

  /** Lines seen so far, blank ones included. */
  get lineCount(): number {
    return this.#line;
  }

  /**
   * Bytes of memory held for the partial line between chunks: the carry buffer's capacity (never more than the
   * limit plus one) and, while a line over the limit is skipped, its sample. For tests and diagnostics.
   */
  get bufferedBytes(): number {
    return (this.#carry?.length ?? 0) + (this.#sample?.length ?? 0);
  }

  /** Takes the next bytes of the input. */
  write(chunk: Buffer): void {
    const size = this.#blockBytes;
    if (chunk.length <= size) this.#cut(chunk);
    else for (let at = 0; at < chunk.length; at += size) this.#cut(chunk.subarray(at, at + size));
  }

  /**
   * Memory to read the next bytes of the input into, then {@link commit} them: up to `most` bytes and never more
   * than the block size, behind a copy of the partial line carried from before, so that the block those bytes
   * complete is the memory they were read into. Saves {@link write}'s copy of every byte, for a reader that can read
   * into memory it is given (a file).
   */
  reserve(most = this.#blockBytes): Buffer {
    if (this.#reserved) return this.#reserved.free;
    const carried = this.#carryLen;
    const { bytes, hold } = this.#buffers.take(carried + Math.max(1, Math.min(most, this.#blockBytes)));
    const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (carried > 0) this.#carry!.copy(whole, 0, 0, carried);
    const free = whole.subarray(carried);
    this.#reserved = { whole, free, hold, carried };
    return free;
  }

  /** Takes the first `length` bytes of the memory {@link reserve} gave out as the next bytes of the input. */
  commit(length: number): void {
    const reserved = this.#reserved;
    if (!reserved) throw new Error('LineCutter.commit() without reserve()');
    this.#reserved = undefined;
    const { whole, hold, carried } = reserved;
    const data = whole.subarray(0, carried + length);
    const release = hold();
    const first = data.indexOf(LF, carried);
    if (first === -1) {
      // No line ends here: the carry grows instead (a copy, but only of a line longer than a read).
      this.#extendPartial(data, carried, data.length);
      release();
      return;
    }
    let start = 0;
    if (this.#sample) {
      this.#extendPartial(data, 0, first);
      this.#finishSkipped();
      start = first + 1;
    } else {
      this.#releaseCarry();
    }
    const last = data.lastIndexOf(LF);
    if (start <= last) this.#emitLines(data.subarray(start, last + 1), hold);
    release();
    this.#extendPartial(data, last + 1, data.length);
  }

  /** Emits the lines `chunk` completes as a block, and keeps its partial last line. */
  #cut(chunk: Buffer): void {
    const first = chunk.indexOf(LF);
    if (first === -1) {
      this.#extendPartial(chunk, 0, chunk.length);
      return;
    }
    let start = 0;
    if (this.#sample) {
      this.#extendPartial(chunk, 0, first);
      this.#finishSkipped();
      start = first + 1;
    }
    const last = chunk.lastIndexOf(LF);
    if (start <= last) this.#pushBlock(chunk, start, last + 1);
    this.#extendPartial(chunk, last + 1, chunk.length);
  }

  /**
   * The input ended because it was cut short (a file truncated while read): the partial last line, if any, is not
   * a message but a dead letter `input truncated`, its first bytes kept. Returns its line number, or 0 for none.
   */
  endTruncated(why: string): number {
    if (this.#reserved) this.commit(0);
    if (this.#sample) {
      this.#finishSkipped();
      return this.#line;
    }
    if (this.#carryLen === 0) return 0;
    const line = ++this.#line;
    const body = sampleOf(this.#carry!.subarray(0, this.#carryLen));
    this.#carry = null;
    this.#carryLen = 0;
    const delivery: Delivery = { body, id: this.#ids.of(line), meta: { source: this.#source, line } };
    this.#emit([
      { ...delivery, rejected: { reason: Reasons.inputTruncated, error: `line ${line} is cut short: ${why}` } },
    ]);
    return line;
  }

  /** The input has ended: emits the last line, which had no newline. */
  end(): void {
    if (this.#reserved) this.commit(0);
    if (this.#sample) this.#finishSkipped();
    else if (this.#carryLen > 0) this.#pushBlock(EMPTY, 0, 0);
    this.#carry = null;
  }

  /** Emits the block of the carried partial line followed by `chunk[start..end)`, after one copy into shared memory. */
  #pushBlock(chunk: Buffer, start: number, end: number): void {
    const carried = this.#carryLen;
    const { bytes, hold } = this.#buffers.take(carried + end - start);
    if (carried > 0) {
      bytes.set(this.#carry!.subarray(0, carried));
      this.#releaseCarry();
    }
    bytes.set(chunk.subarray(start, end), carried);
    this.#emitLines(bytes, hold);
  }

  /** Emits whole lines as one block, or as several when the in-flight cap is smaller than their count. */
  #emitLines(bytes: Uint8Array, hold: () => () => void): void {
    const lines = linesIn(bytes);
    if (lines <= this.#maxBlockLines) {
      this.#emitBlock(bytes, lines, hold());
      return;
    }
    // A small in-flight cap: cut the block into views of at most that many lines. Only then are lines visited here.
    for (let from = 0; from < bytes.length;) {
      let to = from;
      let count = 0;
      while (count < this.#maxBlockLines && to < bytes.length) {
        const newline = bytes.indexOf(LF, to);
        to = newline === -1 ? bytes.length : newline + 1;
        count++;
      }
      this.#emitBlock(bytes.subarray(from, to), count, hold());
      from = to;
    }
  }

  #emitBlock(bytes: Uint8Array, lines: number, release: () => void): void {
    const block: LineBlock = {
      release,
      kind: 'lines',
      bytes,
      firstLine: this.#line + 1,
      lines,
      idStart: this.#idStart,
      source: this.#source,
      maxMessageBytes: this.#max,
    };
    this.#line += lines;
    this.#emit(block);
  }

  /** Adds `chunk[from..to)` (no newline in it) to the partial line, giving up on keeping it past the limit. */
  #extendPartial(chunk: Buffer, from: number, to: number): void {
    const length = to - from;
    if (length === 0) return;
    if (this.#sample) {
      this.#fillSample(chunk, from, to);
      this.#skippedLen += length;
      this.#skippedLast = chunk[to - 1]!;
      return;
    }
    const needed = this.#carryLen + length;
    if (needed > this.#carryLimit) {
      this.#startSkipping(chunk, from, to);
      return;
    }
    if (!this.#carry || this.#carry.length < needed) {
      // Grow geometrically so a line arriving in many small chunks is copied O(log n) times, never past the limit.
      const grown = Buffer.allocUnsafeSlow(Math.min(Math.max(needed, this.#carryLen * 2, 256), this.#carryLimit));
      if (this.#carry) this.#carry.copy(grown, 0, 0, this.#carryLen);
      this.#carry = grown;
    }
    chunk.copy(this.#carry, this.#carryLen, from, to);
    this.#carryLen = needed;
  }

  /** The partial line has passed the limit: keep its first bytes as a sample and only count the rest. */
  #startSkipping(chunk: Buffer, from: number, to: number): void {
    this.#sample = Buffer.allocUnsafeSlow(SAMPLE_BYTES);
    this.#sampleLen = Math.min(this.#carryLen, SAMPLE_BYTES);
    if (this.#sampleLen > 0) this.#carry!.copy(this.#sample, 0, 0, this.#sampleLen);
    this.#skippedLen = this.#carryLen;
    this.#releaseCarry();
    this.#extendPartial(chunk, from, to);
  }

  /** Keeps the bytes of a skipped line that still fit in its sample. */
  #fillSample(chunk: Buffer, from: number, to: number): void {
    const room = SAMPLE_BYTES - this.#sampleLen;
    if (room <= 0) return;
    const end = Math.min(to, from + room);
    chunk.copy(this.#sample!, this.#sampleLen, from, end);
    this.#sampleLen += end - from;
  }

  /** The skipped line has ended (at a newline or the end of input): emit its dead letter. */
  #finishSkipped(): void {
    const length = this.#skippedLen - (this.#skippedLast === CR ? 1 : 0);
    // A sample holding the whole line must not keep the `\r` of its `\r\n`.
    const sample = this.#sample!.subarray(0, Math.min(this.#sampleLen, length));
    this.#sample = null;
    this.#sampleLen = 0;
    this.#skippedLen = 0;
    const line = ++this.#line;
    const delivery: Delivery = { body: sample, id: this.#ids.of(line), meta: { source: this.#source, line } };
    this.#emit([tooLarge(delivery, `line ${line}`, length, this.#max)]);
  }

  /** Empties the partial line; a carry grown for one long line is let go rather than kept for the next. */
  #releaseCarry(): void {
    this.#carryLen = 0;
    if (this.#carry && this.#carry.length > CARRY_KEEP_BYTES) this.#carry = null;
  }
}

/**
 * A {@link LineCutter} as a stream, for inputs that come as one (standard input): Buffer chunks in, object-mode
 * chunks out.
 */
export class LineSplitter extends Transform {
  readonly #cutter: LineCutter;

  constructor(options: LineSplitterOptions) {
    // Blocks are large (a chunk's worth of lines), so a few of them are plenty of read-ahead.
    super({ readableObjectMode: true, readableHighWaterMark: 2 });
    this.#cutter = new LineCutter(options, (chunk) => this.push(chunk));
  }

  /** Lines seen so far, blank ones included. */
  get lineCount(): number {
    return this.#cutter.lineCount;
  }

  /** See {@link LineCutter.bufferedBytes}. */
  get bufferedBytes(): number {
    return this.#cutter.bufferedBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#cutter.write(chunk);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#cutter.end();
    callback();
  }
}
