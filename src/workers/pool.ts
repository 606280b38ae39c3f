import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { MissiveError, describe } from '../errors.js';
import type { Message } from '../message.js';
import { ACK, Reasons, deadLetter, timeoutReason, type Outcome } from '../outcome.js';
import { UNROUTED } from '../routing.js';
import type { LineBlock } from '../line-block.js';
import type { MessageClass } from '../message.js';
import { decodeResult, encodeBatch } from './batch.js';
import { BlockTally, itemsOf, layoutOf, type BlockResult } from './block.js';
import type { Executor } from './executor.js';
import type { StrayError } from './stray-errors.js';
import { MarksPool } from './marks.js';
import type { RouteSignature } from '../route-table.js';
import type {
  BlockAnswer,
  BlockTask,
  CheckAnswer,
  CheckTask,
  EncodedResult,
  PoolWorkerData,
  StopTask,
  WorkerTask,
} from './tasks.js';
import {
  NOT_RUNNING,
  PROGRESS_ACKED,
  PROGRESS_STARTED,
  ROUTE_FAILED,
  ROUTE_PENDING,
  type BatchMarks,
  type BatchResult,
  type RunItem,
  type Warning,
} from './runtime.js';

/** Options for a worker pool. */
export interface PoolOptions<M extends Message<unknown> = Message<unknown>> {
  /** The processor module, as a URL every worker can import. */
  readonly moduleUrl: string;
  /** The processor's message class, to rebuild a block's messages here when its worker dies. */
  readonly messageClass: MessageClass<M>;
  /** The main thread's route table, so workers can check they see the same (see `routeTableOf`). */
  readonly routes: readonly RouteSignature[];
  /** How many messages of a block run at once. Default 1000. */
  readonly batchSize?: number;
  /** Worker threads; at least 1. */
  readonly threads: number;
  /** The run's timeout for handlers that set none, in ms; 0 for none. */
  readonly defaultTimeoutMs?: number;
  /** Whether workers time the handlers (metrics are on). Default false. */
  readonly measure?: boolean;
  /** Per route: its timeout option, so the watchdog knows how long a message may block its worker. */
  readonly routeTimeouts: readonly (number | undefined)[];
  /** Called when a worker dies and its batch is recovered. */
  readonly onWorkerExit?: (error: unknown) => void;
  /** Receives each error from work a handler did not await, caught in a worker (see stray-errors.ts). */
  readonly onStrayError?: (stray: StrayError) => void;
}

/** How much longer than its timeout a handler may hold its thread before the watchdog ends the worker. */
const WATCHDOG_GRACE_MS = 500;
const WATCHDOG_TICK_MS = 100;

/** A message that blocked its worker past its timeout. */
interface Blocked {
  readonly index: number;
  readonly timeoutMs: number;
}

/**
 * The watchdog's verdict on a worker it ended: the message that blocked it, or `SUSPECTS` when the thread was stuck
 * in code run after an await while several messages were waiting (they then run again one per task, where the
 * same rule names the one that blocks).
 */
const SUSPECTS = 'suspects';
type Verdict = Blocked | typeof SUSPECTS;

/** A running batch the watchdog looks after. */
interface Watched {
  readonly marks: BatchMarks;
  /** Per message, ms; NaN until a message routed in the worker has its route. */
  readonly timeouts: Float64Array;
  /** When the watchdog first saw each message waiting with nothing on the thread's stack (0 = not yet). */
  readonly seen: Float64Array;
  readonly controller: AbortController;
  /** The message on the thread's stack at the last look, and since when. */
  onStack: number;
  onStackSince: number;
  verdict?: Verdict;
}

/** A worker that dies in this many batches without naming a message gives up on the messages it held. */
const MAX_CRASHES_PER_MESSAGE = 3;

/** The worker's own failure to run a batch (module or hook failure): fatal for the run. */
export class WorkerSetupError extends MissiveError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/**
 * Runs batches on a Piscina pool. When a handler kills its worker (exit, uncaught error, memory limit) or blocks it
 * past its timeout, only that message becomes a dead letter (`worker exited`, `timeout after N ms`): the marks the
 * worker left in shared memory say which message held the thread (see {@link blame}), messages it had acked stay
 * acked, and the rest of the batch runs again.
 */
export class PoolExecutor<M extends Message<unknown>> implements Executor<M> {
  readonly #pool: Piscina<WorkerTask, EncodedResult | BlockAnswer | CheckAnswer | null>;
  readonly #options: PoolOptions<M>;
  readonly #crashes = new WeakMap<M, number>();
  readonly #watched = new Set<Watched>();
  readonly #marks = new MarksPool();
  #watchdog: NodeJS.Timeout | undefined;
  #destroyed = false;
  #busyMs = 0;
  readonly #startedAt = performance.now();
  /** Whether any handler can time out, so messages routed in the workers need watching. */
  readonly #anyTimeout: boolean;

  /** Stray errors the workers caught, one counter they all add to (see worker.ts). */
  readonly #strays = new Int32Array(new SharedArrayBuffer(4));
  /** Where the workers send those errors, to be logged here. */
  readonly #reports = new BroadcastChannel(`missive-strays-${randomUUID()}`);

  constructor(options: PoolOptions<M>) {
    this.#options = options;
    this.#anyTimeout =
      (options.defaultTimeoutMs ?? 0) > 0 || options.routeTimeouts.some((timeout) => (timeout ?? 0) > 0);
    this.#reports.unref();
    this.#reports.onmessage = (event) => options.onStrayError?.((event as { data: StrayError }).data);
    this.#pool = new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      workerData: {
        strays: this.#strays,
        routes: options.routes,
        reports: this.#reports.name,
      } satisfies PoolWorkerData,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Not 'sync', which parks a worker's event loop between tasks: work a handler left running after it returned
      // (a fire-and-forget timer) would wait for the next task, and with none its error was never caught, counted
      // or logged, where with `threads: 0` it is.
      atomics: 'async',
      recordTiming: false,
      // Each worker's young generation would otherwise grow to V8's default and stay there; 8 MB cut peak RSS of a
      // two-worker run from 229 to 180 MB at the same throughput (bench/pipeline.js).
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    // A worker that fails between tasks must not take the process down; batches in flight are recovered in run().
    this.#pool.on('error', (error: unknown) => options.onWorkerExit?.(error));
  }

  get unhandledErrors(): number {
    return Atomics.load(this.#strays, 0);
  }

  get threads(): number {
    return this.#options.threads;
  }

  /**
   * How busy the workers have been since the pool started, 0 to 1: the time they spent running batches over the
   * time they could have. Measured here because Piscina's own figure is off by a factor of 1000 (ms against s).
   */
  get utilization(): number {
    const capacity = (performance.now() - this.#startedAt) * this.#options.threads;
    return capacity > 0 ? Math.min(1, this.#busyMs / capacity) : 0;
  }

  async run(items: readonly RunItem<M>[]): Promise<BatchResult> {
    const { moduleUrl, defaultTimeoutMs = 0, measure = false } = this.#options;
    const { task, transfer } = encodeBatch(items, moduleUrl, defaultTimeoutMs, measure);
    const watched = this.#watch(items.length, (i) => items[i]!.route, task);
    let encoded: EncodedResult | null;
    try {
      encoded = (await this.#pool.run(task, {
        transferList: transfer,
        signal: watched?.controller.signal ?? null,
      })) as EncodedResult | null;
    } catch (error) {
      // Terminated on purpose (a forced shutdown): nothing to recover, the run is over.
      if (this.#destroyed) throw error;
      if (!watched?.verdict) this.#options.onWorkerExit?.(error);
      return this.#recover(items, task, error, watched?.verdict);
    } finally {
      if (watched) this.#unwatch(watched);
    }
    if (!encoded || encoded.fatal) {
      throw new WorkerSetupError(encoded?.fatal?.code ?? 'MISSIVE_ERR_WORKER', encoded?.fatal?.message ?? 'no result');
    }
    this.#busyMs += encoded.busyMs ?? 0;
    return decodeResult(encoded, task.routed);
  }

  async runBlock(block: LineBlock): Promise<BlockResult> {
    const { moduleUrl, defaultTimeoutMs = 0, measure = false, batchSize = 1000 } = this.#options;
    const size = Math.max(1, block.lines);
    const marks = this.#marks.take(size);
    const { progress, routed, running } = marks;
    // `release` is the adapter's, for this thread: it does not cross.
    const { release: _release, ...wire } = block;
    const task: BlockTask = {
      kind: 'block',
      moduleUrl,
      block: wire,
      batchSize,
      progress,
      routed,
      running,
      defaultTimeoutMs,
      measure,
    };
    // Routed in the worker: watched only when some handler can time out, and then until its route is known.
    const watched = this.#anyTimeout ? this.#watch(size, () => UNROUTED, marks) : undefined;
    let answer: BlockAnswer | null;
    try {
      answer = (await this.#pool.run(task, { signal: watched?.controller.signal ?? null })) as BlockAnswer | null;
    } catch (error) {
      if (this.#destroyed) throw error;
      // The block's bytes are shared, so they outlive the worker: split them here and recover as for a batch.
      const layout = layoutOf(block);
      const items = itemsOf(block, layout, this.#options.messageClass);
      if (!watched?.verdict) this.#options.onWorkerExit?.(error);
      const tally = new BlockTally(block, layout);
      tally.add(0, await this.#recover(items, marks, error, watched?.verdict));
      return tally.result();
    } finally {
      if (watched) this.#unwatch(watched);
    }
    if (!answer?.result || answer.fatal) {
      throw new WorkerSetupError(answer?.fatal?.code ?? 'MISSIVE_ERR_WORKER', answer?.fatal?.message ?? 'no result');
    }
    this.#busyMs += answer.busyMs;
    this.#marks.release(marks);
    const { result } = answer;
    // Structured clone turns Buffers into plain Uint8Arrays.
    const replies = result.replies?.map(({ index, body }) => ({
      index,
      body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    }));
    return replies ? { ...result, replies } : result;
  }

  /**
   * Has every worker import the processor module and compare its route table with this thread's (each takes one
   * check, or its first task does it), so that a module registering other routes in workers, or failing to import
   * there, fails the run before any input is read. Processing hooks still run at each worker's first task.
   */
  async start(): Promise<void> {
    const check: CheckTask = { kind: 'check', moduleUrl: this.#options.moduleUrl };
    const answers = await Promise.all(Array.from({ length: this.#options.threads }, () => this.#pool.run(check)));
    const fatal = answers.find((answer) => answer?.fatal)?.fatal;
    if (fatal) throw new WorkerSetupError(fatal.code, fatal.message);
  }

  async close(): Promise<void> {
    const { threads, moduleUrl } = this.#options;
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const stop: StopTask = { kind: 'stop', moduleUrl, barrier, workers: threads };
    await Promise.allSettled(Array.from({ length: threads }, () => this.#pool.run(stop)));
    await this.#pool.destroy();
    // Reports the workers sent before they ended are delivered on this thread's next turn.
    await new Promise((resolve) => setImmediate(resolve));
    this.#reports.close();
  }

  /** Terminates the workers at once, without `afterProcessing`: for a second Ctrl-C. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    this.#reports.close();
    await this.#pool.destroy();
  }

  /**
   * Puts a batch under the watchdog when any of its handlers has a timeout. An async handler past its timeout is
   * settled by the worker itself; one that blocks its thread cannot be, so the watchdog ends that worker.
   */
  #watch(count: number, routeOf: (i: number) => number, marks: BatchMarks): Watched | undefined {
    let any = false;
    const timeouts = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const route = routeOf(i);
      timeouts[i] = route === UNROUTED ? (this.#anyTimeout ? NaN : 0) : this.#timeoutOf(route);
      if (timeouts[i] !== 0) any = true;
    }
    if (!any) return undefined;
    const watched: Watched = {
      marks,
      timeouts,
      seen: new Float64Array(count),
      controller: new AbortController(),
      onStack: NOT_RUNNING,
      onStackSince: 0,
    };
    this.#watched.add(watched);
    this.#watchdog ??= setInterval(() => this.#inspect(), WATCHDOG_TICK_MS);
    return watched;
  }

  #unwatch(watched: Watched): void {
    this.#watched.delete(watched);
    if (this.#watched.size === 0 && this.#watchdog) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  #timeoutOf(route: number): number {
    return this.#options.routeTimeouts[route] ?? this.#options.defaultTimeoutMs ?? 0;
  }

  /** Message `i`'s timeout in ms; 0 for none, or while its matchers have not picked its route. */
  #timeoutAt(watched: Watched, i: number): number {
    const { timeouts, marks } = watched;
    if (!Number.isNaN(timeouts[i])) return timeouts[i]!;
    const route = marks.routed?.[i] ?? ROUTE_PENDING;
    if (route === ROUTE_PENDING) return 0;
    return (timeouts[i] = route === ROUTE_FAILED ? 0 : this.#timeoutOf(route));
  }

  #inspect(): void {
    const now = Date.now();
    for (const watched of this.#watched) {
      if (watched.verdict) continue;
      watched.verdict = this.#judge(watched, now);
      if (watched.verdict) watched.controller.abort();
    }
  }

  /**
   * The watchdog's rule. While a message's synchronous code is on the thread's stack, that message alone can be
   * holding the thread, and is judged against its own timeout; messages awaiting meanwhile are not judged, their
   * timers cannot fire until it lets go. With nothing on the stack, an awaiting message's own timer settles it at
   * its timeout: one still running well past it means the thread is stuck in code that runs after an await, which
   * has no mark; {@link blame} then names the culprit if it can.
   */
  #judge(watched: Watched, now: number): Verdict | undefined {
    const { running, progress } = watched.marks;
    const onStack = running[0]!;
    if (onStack !== NOT_RUNNING) {
      if (onStack !== watched.onStack) {
        watched.onStack = onStack;
        watched.onStackSince = now;
        return undefined;
      }
      const timeoutMs = this.#timeoutAt(watched, onStack);
      return timeoutMs > 0 && now - watched.onStackSince > timeoutMs + WATCHDOG_GRACE_MS
        ? { index: onStack, timeoutMs }
        : undefined;
    }
    watched.onStack = NOT_RUNNING;
    const { seen } = watched;
    let stuck = false;
    for (let i = 0; i < progress.length; i++) {
      if (progress[i] !== PROGRESS_STARTED) continue;
      const timeoutMs = this.#timeoutAt(watched, i);
      if (timeoutMs === 0) continue;
      if (seen[i] === 0) seen[i] = now;
      else if (now - seen[i]! > timeoutMs + WATCHDOG_GRACE_MS) stuck = true;
    }
    if (!stuck) return undefined;
    const culprit = blame(watched.marks);
    const timeoutMs = culprit === undefined ? 0 : this.#timeoutAt(watched, culprit);
    return culprit !== undefined && timeoutMs > 0 ? { index: culprit, timeoutMs } : SUSPECTS;
  }

  /**
   * Settles a batch whose worker died or was ended by the watchdog. The culprit (the watchdog's, or {@link blame}'s
   * for a death) becomes the one dead letter; the others run again once, with the messages that had not started.
   * When nobody can be named, each message that was running runs again alone, where the rule names the culprit.
   */
  async #recover(
    items: readonly RunItem<M>[],
    marks: BatchMarks,
    error: unknown,
    verdict: Verdict | undefined,
  ): Promise<BatchResult> {
    const { progress } = marks;
    // Routes picked in the dead worker stand; messages run again get theirs from the new run.
    const routes = marks.routed ? Int32Array.from(marks.routed) : undefined;
    const outcomes: Outcome[] = new Array<Outcome>(items.length);
    const running: number[] = [];
    const again: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const { rejected } = items[i]!;
      if (rejected) {
        outcomes[i] = rejected;
        if (routes) routes[i] = ROUTE_FAILED;
      } else if (progress[i] === PROGRESS_ACKED) outcomes[i] = ACK;
      else if (progress[i] === PROGRESS_STARTED) running.push(i);
      else again.push(i);
    }
    let culprit: number | undefined;
    if (verdict === undefined) {
      culprit = blame(marks);
      if (culprit !== undefined) outcomes[culprit] = deadLetter(Reasons.workerExited, describe(error));
    } else if (verdict !== SUSPECTS) {
      culprit = verdict.index;
      outcomes[culprit] = deadLetter(
        timeoutReason(verdict.timeoutMs),
        `the handler blocked its thread past its timeout of ${verdict.timeoutMs} ms; the worker was replaced`,
        true,
      );
    }
    const alone = culprit === undefined ? running : [];
    if (culprit !== undefined) {
      // The others that were running only shared the thread with it.
      for (const i of running) if (i !== culprit) again.push(i);
    } else {
      // A guard against a killer no rule can name (one that strikes between messages): messages in too many
      // such deaths are given up on rather than run for ever.
      const given = deadLetter(Reasons.workerExited, describe(error));
      for (const i of [...running, ...again]) {
        const crashes = (this.#crashes.get(items[i]!.message) ?? 0) + 1;
        this.#crashes.set(items[i]!.message, crashes);
        if (crashes >= MAX_CRASHES_PER_MESSAGE) outcomes[i] = given;
      }
    }
    const together = again.filter((i) => outcomes[i] === undefined);
    const groups = [
      ...alone.filter((i) => outcomes[i] === undefined).map((i) => [i]),
      ...(together.length > 0 ? [together] : []),
    ];
    const results = await Promise.all(groups.map((group) => this.run(group.map((i) => items[i]!))));
    const warnings: Warning[] = [];
    groups.forEach((group, g) => {
      const result = results[g]!;
      group.forEach((i, k) => {
        outcomes[i] = result.outcomes[k]!;
        if (routes && result.routes) routes[i] = result.routes[k]!;
      });
      warnings.push(...result.warnings);
    });
    return { outcomes, warnings, routes };
  }
}

/**
 * Which message a worker's marks blame for holding its thread: the one whose synchronous code is on its stack,
 * else the only one awaiting. Undefined when neither says: the thread stopped in code run after an await (which
 * has no mark) while several messages were awaiting, or outside any message.
 */
function blame({ progress, running }: BatchMarks): number | undefined {
  const onStack = running[0]!;
  if (onStack !== NOT_RUNNING && onStack < progress.length && progress[onStack]! < PROGRESS_ACKED) return onStack;
  let only: number | undefined;
  for (let i = 0; i < progress.length; i++) {
    if (progress[i] !== PROGRESS_STARTED) continue;
    if (only !== undefined) return undefined;
    only = i;
  }
  return only;
}
