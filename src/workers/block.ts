import { forEachLine, LineIds, type LineBlock, type LineMeta } from '../line-block.js';
import { SpareWords } from '../spare-words.js';
import { isAscii } from 'node:buffer';
import { Message, messageOfSlice, setBodyText, type MessageClass } from '../message.js';
import { Reasons, deadLetter, type Outcome } from '../outcome.js';
import { SAMPLE_BYTES, tooLargeOutcome } from '../too-large.js';
import { describe } from '../errors.js';
import { UNROUTED } from '../routing.js';
import {
  ROUTE_FAILED,
  ROUTE_PENDING,
  type BatchResult,
  type Reply,
  type RunItem,
  type RunItems,
  type ThreadRuntime,
  type Warning,
} from './runtime.js';
import type { HandlerTiming } from './timings.js';
import type { Marks } from './marks.js';

/**
 * Where each message of a block sits, found in one pass before any message exists: messages are then built a
 * slice at a time, so a block of 30,000 lines never has 30,000 messages alive at once.
 */
export interface BlockLayout {
  /** How many messages the block holds (its lines that are not blank). */
  readonly count: number;
  /** Per message: its line number, and where its bytes start and end (line ending left out). */
  readonly lines: Uint32Array;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
}

/** One message of a block whose answer is not a plain ack: the main thread settles it on its own. */
export interface BlockException {
  /** Its index among the block's messages. */
  readonly index: number;
  readonly line: number;
  /** Its body is `block.bytes[start..end)`. */
  readonly start: number;
  readonly end: number;
  readonly outcome: Outcome;
  /** The route it took, or `ROUTE_FAILED`. */
  readonly route: number;
}

/**
 * What became of a block: how many messages it held, and the exceptions. Every message not listed was handled
 * and acked, so a block of plain acks answers with a number.
 */
export interface BlockResult {
  readonly messages: number;
  readonly exceptions: BlockException[];
  readonly warnings: Warning[];
  readonly timings?: HandlerTiming[];
  /** Answers given with `ctx.reply`; `index` is the position in `exceptions` (a replied message is listed). */
  readonly replies?: Reply[];
}

/** Finds the messages of a block, in arrays of their own (for the rare paths that keep them: a worker died). */
export function layoutOf(block: LineBlock): BlockLayout {
  return fillLayout(block, new Uint32Array(3 * block.lines));
}

/** The layout arrays of the last block this thread ran, kept for the next. */
const layoutWords = new SpareWords();

/** Like {@link layoutOf}, in this thread's spare arrays; they go back with `layoutWords.giveBack`. */
function borrowLayout(block: LineBlock): BlockLayout & { readonly words: Uint32Array } {
  const words = layoutWords.take(3 * block.lines);
  return { ...fillLayout(block, words), words };
}

function fillLayout(block: LineBlock, words: Uint32Array): BlockLayout {
  const n = block.lines;
  const lines = words.subarray(0, n);
  const starts = words.subarray(n, 2 * n);
  const ends = words.subarray(2 * n, 3 * n);
  const count = forEachLine(block, (index, line, start, end) => {
    lines[index] = line;
    starts[index] = start;
    ends[index] = end;
  });
  return { count, lines, starts, ends };
}

/**
 * Messages `from..to` of a block, each built with `MessageClass` when it is run, as a view of one copy of the
 * slice's bytes. A line over the limit, and a line the message class refuses, come out `rejected`: they become
 * dead letters without running a matcher.
 */
export class SliceItems<M extends Message<unknown>> implements RunItems<M> {
  readonly length: number;
  readonly #block: LineBlock;
  readonly #layout: BlockLayout;
  readonly #from: number;
  readonly #MessageClass: MessageClass<M>;
  readonly #ids: LineIds;
  readonly #bytes: Buffer;
  readonly #text: string | undefined;
  readonly #offset: number;

  constructor(
    block: LineBlock,
    layout: BlockLayout,
    from: number,
    to: number,
    MessageClass: MessageClass<M>,
    ids = new LineIds(block.idStart),
  ) {
    this.length = to - from;
    this.#block = block;
    this.#layout = layout;
    this.#from = from;
    this.#MessageClass = MessageClass;
    this.#ids = ids;
    // The slice's bytes are copied out first: messages must not be views of the block, whose memory the run
    // reuses once the block is answered, while a handler may keep a message longer.
    this.#offset = to > from ? layout.starts[from]! : 0;
    const end = to > from ? layout.ends[to - 1]! : 0;
    this.#bytes = Buffer.allocUnsafeSlow(end - this.#offset);
    this.#bytes.set(block.bytes.subarray(this.#offset, end));
    this.#text = asciiText(this.#bytes);
  }

  at(k: number): RunItem<M> {
    const index = this.#from + k;
    const { source, maxMessageBytes } = this.#block;
    const line = this.#layout.lines[index]!;
    const start = this.#layout.starts[index]! - this.#offset;
    const end = this.#layout.ends[index]! - this.#offset;
    const id = this.#ids.of(line);
    const meta: LineMeta = { source, line };
    const bytes = this.#bytes;
    if (end - start > maxMessageBytes) {
      const rejected = tooLargeOutcome(`line ${line}`, end - start, maxMessageBytes);
      return {
        route: UNROUTED,
        attempt: 1,
        message: placeholder(bytes, start, sampleEnd(start, end), id, meta),
        rejected,
      };
    }
    try {
      const text = this.#text?.slice(start, end);
      let message = messageOfSlice(this.#MessageClass, bytes, start, end, text, id, meta);
      if (!message) {
        message = new this.#MessageClass(bytes.subarray(start, end), id, meta);
        if (text !== undefined) setBodyText(message, text);
      }
      return { route: UNROUTED, attempt: 1, message };
    } catch (error) {
      const rejected = deadLetter(Reasons.decodeFailed, describe(error));
      return { route: UNROUTED, attempt: 1, message: placeholder(bytes, start, end, id, meta), rejected };
    }
  }
}

/** Every message of a block, built now: for the rare paths that need them all at once (a worker died). */
export function itemsOf<M extends Message<unknown>>(
  block: LineBlock,
  layout: BlockLayout,
  MessageClass: MessageClass<M>,
): RunItem<M>[] {
  const slice = new SliceItems(block, layout, 0, layout.count, MessageClass);
  return Array.from({ length: slice.length }, (_, k) => slice.at(k));
}

/**
 * The bytes as one string, when they are ASCII (then byte and character offsets agree): each message of a slice
 * gets a piece of it, where one decode call per message costs more than parsing a short JSON line.
 */
function asciiText(bytes: Buffer): string | undefined {
  return isAscii(bytes) ? bytes.toString('latin1') : undefined;
}

// A message that never reaches a matcher or handler only needs its id and bytes.
function placeholder<M extends Message<unknown>>(
  bytes: Buffer,
  start: number,
  end: number,
  id: string,
  meta: LineMeta,
): M {
  return new Message(bytes.subarray(start, end), id, meta) as unknown as M;
}

/** Where the stored body of a message ends: its line, or the first bytes of a line over the limit. */
function bodyEnd(block: LineBlock, layout: BlockLayout, index: number): number {
  const start = layout.starts[index]!;
  const end = layout.ends[index]!;
  return end - start > block.maxMessageBytes ? sampleEnd(start, end) : end;
}

/** The end of the sample kept of a line over the limit, `start..end`. */
function sampleEnd(start: number, end: number): number {
  return start + Math.min(end - start, SAMPLE_BYTES);
}

/** Gathers a block's answer from the results of its slices: the count, and every message that is not a plain ack. */
export class BlockTally {
  readonly #block: LineBlock;
  readonly #layout: BlockLayout;
  readonly #exceptions: BlockException[] = [];
  readonly #listed = new Map<number, number>();
  readonly #warnings: Warning[] = [];
  #timings: HandlerTiming[] | undefined;
  #replies: Reply[] | undefined;

  constructor(block: LineBlock, layout: BlockLayout) {
    this.#block = block;
    this.#layout = layout;
  }

  /** Adds the result of messages `from..from + n`. */
  add(from: number, result: BatchResult): void {
    const { outcomes, routes } = result;
    for (let i = 0; i < outcomes.length; i++) {
      if (outcomes[i]!.kind !== 'ack') this.#list(from + i, outcomes[i]!, routes?.[i]);
    }
    for (const { index, body } of result.replies ?? []) {
      (this.#replies ??= []).push({ index: this.#list(from + index, outcomes[index]!, routes?.[index]), body });
    }
    this.#warnings.push(...result.warnings);
    if (result.timings) (this.#timings ??= []).push(...result.timings);
  }

  result(): BlockResult {
    return {
      messages: this.#layout.count,
      exceptions: this.#exceptions,
      warnings: this.#warnings,
      timings: this.#timings,
      replies: this.#replies,
    };
  }

  #list(index: number, outcome: Outcome, route: number | undefined): number {
    let at = this.#listed.get(index);
    if (at === undefined) {
      at = this.#exceptions.length;
      this.#listed.set(index, at);
      const { lines, starts } = this.#layout;
      const taken = route === undefined || route === ROUTE_PENDING ? ROUTE_FAILED : route;
      this.#exceptions.push({
        index,
        line: lines[index]!,
        start: starts[index]!,
        end: bodyEnd(this.#block, this.#layout, index),
        outcome,
        route: taken,
      });
    }
    return at;
  }
}

/**
 * Runs a block's messages `batchSize` at a time: asynchronous handlers overlap within a slice, as within a batch,
 * so `--batch-size` bounds how many run at once however many lines a block holds. Marks go to the block's shared
 * arrays, at the message's index in the block, when given.
 */
export async function runBlock<M extends Message<unknown>>(
  runtime: ThreadRuntime<M>,
  block: LineBlock,
  batchSize: number,
  marks?: Marks,
): Promise<BlockResult> {
  const layout = borrowLayout(block);
  const tally = new BlockTally(block, layout);
  const ids = new LineIds(block.idStart);
  const { MessageClass } = runtime.processor;
  try {
    for (let from = 0; from < layout.count; from += batchSize) {
      // Between slices, let the thread's timers and I/O in: synchronous handlers would otherwise hold it for the
      // whole block (with `threads: 0` that thread is the main one, which also reads and settles).
      if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const to = Math.min(layout.count, from + batchSize);
      const items = new SliceItems(block, layout, from, to, MessageClass, ids);
      const slice = marks && {
        progress: marks.progress.subarray(from, to),
        routed: marks.routed.subarray(from, to),
        running: marks.running,
        base: from,
      };
      tally.add(from, await runtime.runBatch(items, slice));
    }
    // The answer holds copies of what it needs from the layout, so its arrays can serve the next block.
    return tally.result();
  } finally {
    layoutWords.giveBack(layout.words);
  }
}
