import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Delivery, DeliveryMeta } from '../delivery.js';
import { InvalidOptionError } from '../errors.js';
import { SAMPLE_BYTES, tooLarge } from './too-large.js';

/** Options shared by the line-delimited adapters (stdin, files). */
export interface LineAdapterOptions {
  /**
   * The longest line, in bytes (its line ending not counted), that becomes a message. A longer line is not
   * buffered: it becomes a dead letter "message too large" whose body is its first {@link SAMPLE_BYTES} bytes.
   * Default {@link DEFAULT_MAX_MESSAGE_BYTES} (1 MiB). CLI: `--max-message-bytes`.
   */
  readonly maxMessageBytes?: number;
}

/** Default for {@link LineAdapterOptions.maxMessageBytes}: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;


/** Options of a {@link LineSplitter}. */
export interface LineSplitterOptions extends LineAdapterOptions {
  /** `meta.source` of every delivery: `stdin` or `file:<path as given>`. */
  readonly source: string;
  /** Prefix of every delivery id (`<prefix>:<line>`). Default: a fresh {@link newRunPrefix}. */
  readonly idPrefix?: string;
}

/**
 * A short random prefix that makes line ids unique across runs and inputs while staying readable (`k3f9a2xq:42`).
 * 40 random bits: collisions stay unlikely over a million runs sharing one dead-letter store.
 */
export function newRunPrefix(): string {
  return randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0');
}

/** Checks a `maxMessageBytes` option and applies the default. */
export function resolveMaxMessageBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(
      `--max-message-bytes must be a whole number of bytes above 0, got ${String(value)}`,
    );
  }
  return value;
}

/** `'0'`..`'999'` and `'000'`..`'999'`, for {@link LineSplitter} ids. */
const UNPADDED = Array.from({ length: 1000 }, (_, i) => String(i));
const PADDED = UNPADDED.map((digits) => digits.padStart(3, '0'));

const LF = 0x0a;
const CR = 0x0d;
/** A carry buffer grown past this for one long line is dropped afterwards instead of being kept for reuse. */
const CARRY_KEEP_BYTES = 64 * 1024;

/**
 * Splits a byte stream into lines: Buffer chunks in, one object-mode `Delivery[]` per input chunk out (batches keep
 * the per-line cost of the stream machinery at zero).
 *
 * `\n` and `\r\n` end a line; one trailing `\r` is dropped from every line, the last one included. Blank lines are
 * skipped but counted, so the number in an id is the line's number in the input. A final line without a newline is
 * kept. A line over `maxMessageBytes` is never held whole: once it passes the limit only its first
 * {@link SAMPLE_BYTES} bytes are kept, the rest is skipped up to the next newline, and it is emitted with
 * `rejected` set so the pipeline stores it as a dead letter.
 *
 * Bodies are never views of the input chunks: the lines of one batch are copied once into one buffer made for that
 * batch (never from Node's shared pool), and each body is a slice of it; only the sample of a line over the limit
 * that spanned chunks has a small buffer of its own. That costs one memcpy per chunk and keeps a message from
 * pinning unrelated memory (a partial line, Node's pool).
 * All deliveries of one splitter share one frozen `meta` object (`{ source }`): the line number is in the id.
 */
export class LineSplitter extends Transform {
  readonly #max: number;
  /** The longest partial line kept before giving up on it: one more than the limit, for a `\r` of a `\r\n`. */
  readonly #carryLimit: number;
  /** `<prefix>:`, the start of every id. */
  readonly #idStart: string;
  readonly #meta: DeliveryMeta;
  #line = 0;
  /** `<prefix>:<line / 1000>` for the current thousand lines, so an id costs one concatenation. */
  #thousandPrefix = '';
  #thousand = -1;
  /** Bytes of the current partial line, valid up to #carryLen. */
  #carry: Buffer | null = null;
  #carryLen = 0;
  /** Set while skipping the rest of a line over the limit: its first bytes, the length so far, its last byte. */
  #sample: Buffer | null = null;
  #sampleLen = 0;
  #skippedLen = 0;
  #skippedLast = 0;

  constructor(options: LineSplitterOptions) {
    // Batches are large (a chunk's worth of lines), so a few of them are plenty of read-ahead.
    super({ readableObjectMode: true, readableHighWaterMark: 4 });
    this.#max = resolveMaxMessageBytes(options.maxMessageBytes);
    this.#carryLimit = this.#max + 1;
    this.#idStart = `${options.idPrefix ?? newRunPrefix()}:`;
    this.#meta = Object.freeze({ source: options.source });
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

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const first = chunk.indexOf(LF);
    if (first === -1) {
      this.#extendPartial(chunk, 0, chunk.length);
      callback();
      return;
    }
    const batch: Delivery[] = [];
    let start = 0;
    if (this.#sample) {
      this.#extendPartial(chunk, 0, first);
      this.#finishSkipped(batch);
      start = first + 1;
    }
    const last = chunk.lastIndexOf(LF);
    if (start <= last) this.#splitComplete(chunk, start, last, batch);
    this.#extendPartial(chunk, last + 1, chunk.length);
    if (batch.length > 0) this.push(batch);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const batch: Delivery[] = [];
    if (this.#sample) {
      this.#finishSkipped(batch);
    } else if (this.#carryLen > 0) {
      const bytes = Buffer.allocUnsafeSlow(this.#carryLen);
      this.#takeCarry(bytes);
      this.#scan(bytes, batch);
    }
    this.#carry = null;
    if (batch.length > 0) this.push(batch);
    callback();
  }

  /**
   * Emits the lines ending in `chunk[start..last]` (`chunk[last]` is a newline), with the carried partial line in
   * front of the first, after one copy into a fresh batch buffer.
   */
  #splitComplete(chunk: Buffer, start: number, last: number, batch: Delivery[]): void {
    const carried = this.#carryLen;
    const bytes = Buffer.allocUnsafeSlow(carried + last + 1 - start);
    if (carried > 0) this.#takeCarry(bytes);
    chunk.copy(bytes, carried, start, last + 1);
    this.#scan(bytes, batch);
  }

  /** Emits every line of `bytes`; the last one may lack its newline. */
  #scan(bytes: Buffer, batch: Delivery[]): void {
    const max = this.#max;
    const meta = this.#meta;
    const to = bytes.length;
    let pos = 0;
    while (pos < to) {
      let end = bytes.indexOf(LF, pos);
      if (end === -1) end = to;
      const next = end + 1;
      const line = ++this.#line;
      if (end > pos && bytes[end - 1] === CR) end--;
      const length = end - pos;
      if (length > max) {
        this.#pushTooLarge(bytes.subarray(pos, Math.min(end, pos + SAMPLE_BYTES)), length, line, batch);
      } else if (length > 0) {
        batch.push({ body: bytes.subarray(pos, end), id: this.#id(line), meta });
      }
      pos = next;
    }
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
  #finishSkipped(batch: Delivery[]): void {
    const length = this.#skippedLen - (this.#skippedLast === CR ? 1 : 0);
    // A sample holding the whole line must not keep the `\r` of its `\r\n`.
    const sample = this.#sample!.subarray(0, Math.min(this.#sampleLen, length));
    this.#sample = null;
    this.#sampleLen = 0;
    this.#skippedLen = 0;
    this.#pushTooLarge(sample, length, ++this.#line, batch);
  }

  /** Adds the dead letter of a line over the limit, with its sample as body. */
  #pushTooLarge(sample: Buffer, length: number, line: number, batch: Delivery[]): void {
    batch.push(tooLarge({ body: sample, id: this.#id(line), meta: this.#meta }, `line ${line}`, length, this.#max));
  }

  /**
   * `<prefix>:<line>`. Formatting a fresh number per line was a third of the splitter's cost, so the thousands are
   * formatted once per thousand lines and the rest comes from a table.
   */
  #id(line: number): string {
    if (line < 1000) return this.#idStart + UNPADDED[line];
    const thousand = Math.floor(line / 1000);
    if (thousand !== this.#thousand) {
      this.#thousand = thousand;
      this.#thousandPrefix = this.#idStart + thousand;
    }
    return this.#thousandPrefix + PADDED[line - thousand * 1000];
  }

  /** Copies the partial line to the front of `target` and forgets it. */
  #takeCarry(target: Buffer): void {
    this.#carry!.copy(target, 0, 0, this.#carryLen);
    this.#releaseCarry();
  }

  /** Empties the partial line; a carry grown for one long line is let go rather than kept for the next. */
  #releaseCarry(): void {
    this.#carryLen = 0;
    if (this.#carry && this.#carry.length > CARRY_KEEP_BYTES) this.#carry = null;
  }
}
