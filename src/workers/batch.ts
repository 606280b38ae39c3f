import type { DeliveryMeta } from '../delivery.js';
import type { Message } from '../message.js';
import { ACK, NACK, deadLetter, type Outcome } from '../outcome.js';
import { UNROUTED } from '../routing.js';
import { NOT_RUNNING, ROUTE_PENDING, type BatchResult, type RunItem } from './runtime.js';
import type { BatchTask, EncodedResult } from './tasks.js';

const CODE_ACK = 0;
const CODE_NACK = 1;
const CODE_DEAD = 2;

/** Packs routed messages into a task, copying each body once into a single transferable buffer. */
export function encodeBatch<M extends Message<unknown>>(
  items: readonly RunItem<M>[],
  moduleUrl: string,
  defaultTimeoutMs: number,
  measure: boolean,
): { task: BatchTask; transfer: ArrayBuffer[] } {
  const n = items.length;
  const offsets = new Uint32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = total;
    total += items[i]!.message.rawData.length;
  }
  offsets[n] = total;
  const bodies = new Uint8Array(total);
  const routes = new Uint16Array(n);
  const attempts = new Uint16Array(n);
  const ids: string[] = new Array<string>(n);
  const idEnds = new Uint32Array(n);
  let idLength = 0;
  const metas: DeliveryMeta[] = [];
  const metaIndex = new Uint32Array(n);
  let lastMeta: DeliveryMeta | undefined;
  let unrouted = false;
  for (let i = 0; i < n; i++) {
    const { message, route, attempt } = items[i]!;
    bodies.set(message.rawData, offsets[i]!);
    routes[i] = route;
    if (route === UNROUTED) unrouted = true;
    attempts[i] = attempt;
    ids[i] = message.id;
    idEnds[i] = idLength += message.id.length;
    if (message.meta !== lastMeta) {
      lastMeta = message.meta;
      metas.push(lastMeta);
    }
    metaIndex[i] = metas.length - 1;
  }
  // One buffer for the progress marks and the `running` word after them.
  const marks = new SharedArrayBuffer(4 * (n + 1));
  const progress = new Int32Array(marks, 0, n);
  const running = new Int32Array(marks, 4 * n, 1).fill(NOT_RUNNING);
  const routed = unrouted ? new Int32Array(new SharedArrayBuffer(4 * n)).fill(ROUTE_PENDING) : undefined;
  const task: BatchTask = {
    kind: 'batch',
    moduleUrl,
    bodies,
    offsets,
    routes,
    attempts,
    ids: ids.join(''),
    idEnds,
    metas,
    metaIndex,
    progress,
    routed,
    running,
    defaultTimeoutMs,
    measure,
  };
  return {
    task,
    transfer: [bodies.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer, idEnds.buffer as ArrayBuffer],
  };
}

/** Rebuilds the messages of a task in the worker, as views over the transferred buffer. */
export function decodeBatch<M extends Message<unknown>>(
  task: BatchTask,
  MessageClass: new (rawData: Buffer, id: string, meta?: DeliveryMeta) => M,
): RunItem<M>[] {
  const { bodies, offsets, routes, attempts, ids, idEnds, metas, metaIndex } = task;
  const n = idEnds.length;
  const items: RunItem<M>[] = new Array<RunItem<M>>(n);
  let idStart = 0;
  for (let i = 0; i < n; i++) {
    const start = offsets[i]!;
    const body = Buffer.from(bodies.buffer, bodies.byteOffset + start, offsets[i + 1]! - start);
    const id = ids.slice(idStart, (idStart = idEnds[i]!));
    items[i] = { route: routes[i]!, attempt: attempts[i]!, message: new MessageClass(body, id, metas[metaIndex[i]!]) };
  }
  return items;
}

export function encodeResult(result: BatchResult): EncodedResult {
  const { outcomes, warnings, timings, replies } = result;
  const codes = new Uint8Array(outcomes.length);
  const failures: EncodedResult['failures'] = [];
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i]!;
    if (outcome.kind === 'ack') codes[i] = CODE_ACK;
    else if (outcome.kind === 'nack') codes[i] = CODE_NACK;
    else {
      codes[i] = CODE_DEAD;
      failures.push({ i, reason: outcome.reason, error: outcome.error, retryable: outcome.retryable });
    }
  }
  return { codes, failures, warnings, timings, replies };
}

/** Rebuilds a worker's answer; `routed` is the batch's shared route array, when its messages came unrouted. */
export function decodeResult(encoded: EncodedResult, routed?: Int32Array): BatchResult {
  const { codes, failures, warnings, timings, replies } = encoded;
  const outcomes: Outcome[] = new Array<Outcome>(codes.length);
  for (let i = 0; i < codes.length; i++) outcomes[i] = codes[i] === CODE_NACK ? NACK : ACK;
  for (const { i, reason, error, retryable } of failures) outcomes[i] = deadLetter(reason, error, retryable);
  // Structured clone turns Buffers into plain Uint8Arrays.
  const answers = replies?.map(({ index, body }) => ({
    index,
    body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
  }));
  return { outcomes, warnings, timings, replies: answers, routes: routed };
}
