/**
 * Line input travels as blocks: bytes cut at line boundaries, split into messages where the handlers run. The
 * main thread reads and counts; it never visits a line.
 */
import type { Delivery } from './delivery.js';
import { countNewlines, findNewlines } from './newlines.js';
import { SpareWords } from './spare-words.js';
import { tooLarge } from './too-large.js';

/** A run of whole lines of one input, as a line adapter hands it over. */
export interface LineBlock {
  readonly kind: 'lines';
  /**
   * The lines' bytes. Every line ends with `\n`, except perhaps the last line of the input. Backed by a
   * SharedArrayBuffer, so it crosses to a worker without a copy and stays readable here while the worker runs it
   * (a worker that dies takes nothing with it).
   */
  readonly bytes: Uint8Array;
  /** The number of the block's first line in its input, from 1. */
  readonly firstLine: number;
  /** How many lines the block holds, blank ones included. */
  readonly lines: number;
  /** `<prefix>:`: a message's id is this followed by its line number. */
  readonly idStart: string;
  /** `meta.source` of every message: `stdin` or `file:<path as given>`. */
  readonly source: string;
  /** The longest line, in bytes without its line ending, that becomes a message; a longer one a dead letter. */
  readonly maxMessageBytes: number;
  /**
   * Called by the run once nothing reads `bytes` any more, so the adapter may reuse the memory. Not called when
   * the block's messages were handed out as views of it (`deliveriesOfBlock`), nor when the run gives up. It never
   * crosses to a worker.
   */
  readonly release?: () => void;
}

/** What {@link LineBlock}s carry in `meta`: where the line came from and its number. */
export interface LineMeta {
  readonly source: string;
  readonly line: number;
  readonly [key: string]: unknown;
}

/** Whether a chunk of an adapter's stream is a block of lines rather than a batch of deliveries. */
export function isLineBlock(chunk: unknown): chunk is LineBlock {
  return (chunk as { kind?: unknown }).kind === 'lines';
}

const LF = 0x0a;
const CR = 0x0d;

/** How many lines `bytes` holds: one per newline, plus a last line without one. */
export function linesIn(bytes: Uint8Array): number {
  const newlines = countNewlines(bytes);
  return bytes.length > 0 && bytes[bytes.length - 1] !== LF ? newlines + 1 : newlines;
}

/** The newline offsets of this thread's last block, kept for the next. */
const offsetWords = new SpareWords();

/**
 * Calls `visit` for every non-blank line of a block, in order: its number, where its bytes start and end (the
 * `\n` and one `\r` before it left out), and its index among the block's messages. Returns how many it visited.
 */
export function forEachLine(
  block: LineBlock,
  visit: (index: number, line: number, start: number, end: number) => void,
): number {
  const { bytes } = block;
  const to = bytes.length;
  const offsets = offsetWords.take(block.lines);
  try {
    const found = findNewlines(bytes, offsets);
    // Writes past a typed array's end are dropped: a block that undercounts its lines would lose some.
    if (found > block.lines) throw new RangeError(`a block of ${block.lines} lines holds ${found} newlines`);
    let line = block.firstLine;
    let index = 0;
    let pos = 0;
    for (let k = 0; k < found; k++) {
      let end = offsets[k]!;
      const next = end + 1;
      if (end > pos && bytes[end - 1] === CR) end--;
      if (end > pos) visit(index++, line, pos, end);
      line++;
      pos = next;
    }
    // The last line, when it has no newline.
    let end = to;
    if (end > pos && bytes[end - 1] === CR) end--;
    if (end > pos) visit(index++, line, pos, end);
    return index;
  } finally {
    offsetWords.giveBack(offsets);
  }
}

/** `'0'`..`'999'` and `'000'`..`'999'`, for {@link LineIds}. */
const UNPADDED = Array.from({ length: 1000 }, (_, i) => String(i));
const PADDED = UNPADDED.map((digits) => digits.padStart(3, '0'));

/**
 * Makes `<prefix>:<line>` ids. Formatting a fresh number per line was a third of the cost of splitting, so the
 * thousands are formatted once per thousand lines and the rest comes from a table.
 */
export class LineIds {
  readonly #idStart: string;
  #thousand = -1;
  #thousandPrefix = '';

  constructor(idStart: string) {
    this.#idStart = idStart;
  }

  of(line: number): string {
    if (line < 1000) return this.#idStart + UNPADDED[line];
    const thousand = Math.floor(line / 1000);
    if (thousand !== this.#thousand) {
      this.#thousand = thousand;
      this.#thousandPrefix = this.#idStart + thousand;
    }
    return this.#thousandPrefix + PADDED[line - thousand * 1000];
  }
}

/** The ids of a block's messages (its lines that are not blank), appended to `ids`. */
export function idsInBlock(block: LineBlock, ids: string[] = []): string[] {
  const lineIds = new LineIds(block.idStart);
  forEachLine(block, (_index, line) => ids.push(lineIds.of(line)));
  return ids;
}

/** How many messages a block holds: its lines that are not blank. */
export function messagesIn(block: LineBlock): number {
  return forEachLine(block, () => {});
}

/**
 * The block as one delivery per message, split in this thread: for a processor whose matchers must run in the
 * main thread (`matchInWorkers: false`). Bodies are views of the block; a line over the limit is `rejected`.
 */
export function deliveriesOfBlock(block: LineBlock): Delivery[] {
  const { source, maxMessageBytes } = block;
  const bytes = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.length);
  const ids = new LineIds(block.idStart);
  const deliveries: Delivery[] = [];
  forEachLine(block, (_index, line, start, end) => {
    const delivery: Delivery = { body: bytes.subarray(start, end), id: ids.of(line), meta: { source, line } };
    const length = end - start;
    deliveries.push(length > maxMessageBytes ? tooLarge(delivery, `line ${line}`, length, maxMessageBytes) : delivery);
  });
  return deliveries;
}
