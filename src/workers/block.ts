import { forEachLine, LineIds, type LineBlock, type LineMeta } from '../line-block.js';
import { Message, type MessageClass } from '../message.js';
import { Reasons, deadLetter, type Outcome } from '../outcome.js';
import { SAMPLE_BYTES, tooLargeOutcome } from '../too-large.js';
import { describe } from '../errors.js';
import { UNROUTED } from '../routing.js';
import { ROUTE_PENDING, type BatchResult, type Reply, type RunItem, type ThreadRuntime, type Warning } from './runtime.js';
import type { HandlerTiming } from './timings.js';

/** The messages of a block, with where each one sits in it. */
export interface BlockMessages<M extends Message<unknown>> {
  readonly items: RunItem<M>[];
  /** Per message: its line number, and the bytes that are its body (a sample, for a line over the limit). */
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

/**
 * Splits a block into messages, built with `MessageClass` as views of the block's bytes. A line over the limit,
 * and a line the message class refuses, come out `rejected`: they become dead letters without running a matcher.
 */
export function messagesOfBlock<M extends Message<unknown>>(block: LineBlock, MessageClass: MessageClass<M>): BlockMessages<M> {
  const { source, maxMessageBytes } = block;
  const items: RunItem<M>[] = [];
  const lines = new Uint32Array(block.lines);
  const starts = new Uint32Array(block.lines);
  const ends = new Uint32Array(block.lines);
  const ids = new LineIds(block.idStart);
  const bytes = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.length);
  forEachLine(block, (index, line, start, end) => {
    lines[index] = line;
    starts[index] = start;
    const id = ids.of(line);
    const meta: LineMeta = { source, line };
    const length = end - start;
    if (length > maxMessageBytes) {
      ends[index] = start + Math.min(length, SAMPLE_BYTES);
      const rejected = tooLargeOutcome(`line ${line}`, length, maxMessageBytes);
      items.push({ route: UNROUTED, attempt: 1, message: placeholder(bytes, start, ends[index]!, id, meta), rejected });
      return;
    }
    ends[index] = end;
    const body = bytes.subarray(start, end);
    try {
      items.push({ route: UNROUTED, attempt: 1, message: new MessageClass(body, id, meta) });
    } catch (error) {
      const rejected = deadLetter(Reasons.decodeFailed, describe(error));
      items.push({ route: UNROUTED, attempt: 1, message: placeholder(bytes, start, end, id, meta), rejected });
    }
  });
  return { items, lines, starts, ends };
}

// A message that never reaches a matcher or handler only needs its id and bytes.
function placeholder<M extends Message<unknown>>(bytes: Buffer, start: number, end: number, id: string, meta: LineMeta): M {
  return new Message(bytes.subarray(start, end), id, meta) as unknown as M;
}

/** Turns the outcomes of a block's messages into its answer: the count, and every message that is not a plain ack. */
export function blockResultOf<M extends Message<unknown>>(found: BlockMessages<M>, result: BatchResult): BlockResult {
  const { outcomes, routes } = result;
  const exceptions: BlockException[] = [];
  const listed = new Map<number, number>();
  const list = (index: number) => {
    let at = listed.get(index);
    if (at === undefined) {
      at = exceptions.length;
      listed.set(index, at);
      exceptions.push({
        index,
        line: found.lines[index]!,
        start: found.starts[index]!,
        end: found.ends[index]!,
        outcome: outcomes[index]!,
        route: routes?.[index] ?? found.items[index]!.route,
      });
    }
    return at;
  };
  for (let i = 0; i < outcomes.length; i++) if (outcomes[i]!.kind !== 'ack') list(i);
  const replies = result.replies?.map(({ index, body }) => ({ index: list(index), body }));
  return { messages: outcomes.length, exceptions, warnings: result.warnings, timings: result.timings, replies };
}

/**
 * Runs a block's messages `batchSize` at a time: asynchronous handlers overlap within a slice, as within a batch,
 * so `--batch-size` bounds how many run at once however many lines a block holds. Progress and routes are written
 * to the block's shared arrays, at the message's index.
 */
export async function runInSlices<M extends Message<unknown>>(
  runtime: ThreadRuntime<M>,
  items: readonly RunItem<M>[],
  batchSize: number,
  progress?: Int32Array,
  routed?: Int32Array,
): Promise<BatchResult> {
  const n = items.length;
  if (n <= batchSize) return runtime.runBatch(items, progress, routed);
  const routes = routed ?? new Int32Array(n).fill(ROUTE_PENDING);
  const outcomes: Outcome[] = new Array(n);
  const warnings: Warning[] = [];
  let timings: HandlerTiming[] | undefined;
  let replies: Reply[] | undefined;
  for (let start = 0; start < n; start += batchSize) {
    // Between slices, let the thread's timers, I/O and signals in: synchronous handlers would otherwise hold it for
    // the whole block (with `threads: 0`, a SIGTERM would wait for the end of the input).
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const end = Math.min(n, start + batchSize);
    const result = await runtime.runBatch(items.slice(start, end), progress?.subarray(start, end), routes.subarray(start, end));
    for (let i = 0; i < result.outcomes.length; i++) outcomes[start + i] = result.outcomes[i]!;
    warnings.push(...result.warnings);
    if (result.timings) (timings ??= []).push(...result.timings);
    if (result.replies) for (const { index, body } of result.replies) (replies ??= []).push({ index: start + index, body });
  }
  return { outcomes, warnings, timings, replies, routes };
}
