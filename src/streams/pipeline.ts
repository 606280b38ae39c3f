import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { Adapter } from '../adapters/adapter.js';
import type { Dlq } from '../dlq/dlq.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import { InvalidOptionError, describe } from '../errors.js';
import { wholeNumberOption } from '../options.js';
import { idsInBlock, messagesIn, type LineBlock } from '../line-block.js';
import { silentLog, type Log } from '../log.js';
import type { Message } from '../message.js';
import type { Processor } from '../processor.js';
import { retryDelaysBackoff, type Backoff } from '../retry.js';
import { routeTableOf } from '../route-table.js';
import type { BlockResult } from '../workers/block.js';
import type { Executor } from '../workers/executor.js';
import { InlineExecutor } from '../workers/inline.js';
import { strayErrorMessage, type StrayError } from '../workers/stray-errors.js';
import { PoolExecutor } from '../workers/pool.js';
import { Timings } from '../workers/timings.js';
import { Admission } from './admission.js';
import { closeAfterGivingUp } from './close-threads.js';
import { Dispatcher } from './dispatch.js';
import type { OutcomeEvents } from './events.js';
import { Feed } from './feed.js';
import { Intake } from './intake.js';
import { Outcomes } from './outcomes.js';
import { Settler } from './settle.js';
import { Shutdown } from './shutdown.js';
import { Stats, type RunStats } from './stats.js';

/** How a run is set up. Every option but the first three has a default that suits most runs. */
export interface PipelineOptions<M extends Message<unknown>> {
  readonly adapter: Adapter;
  /** The processor, as loaded in this thread (it routes here with `matchInWorkers: false` or no workers). */
  readonly processor: Processor<M>;
  /** Where unprocessable messages are stored before they are acked. */
  readonly dlq: Dlq;
  /** The processor module's URL, which every worker imports. Required when `threads` > 0. */
  readonly moduleUrl?: string;
  /** Worker threads running handlers. Default: the available parallelism; 0 runs handlers in this thread. */
  readonly threads?: number;
  /** Messages per worker task, and how many messages of a block of lines run at once. Default 1000. */
  readonly batchSize?: number;
  /** How long a partial batch waits for more messages, in ms. Default 2. */
  readonly lingerMs?: number;
  /**
   * Most messages read and not yet settled; reading pauses at the cap. Default 2 × batchSize × threads. Line input
   * is capped by blocks (`maxInFlightBlocks`) unless this is given: then its lines count here too, and blocks are
   * cut to fit, which costs a visit per line.
   */
  readonly maxInFlight?: number;
  /**
   * Most blocks of lines (line input) handed to the workers and not yet answered: one running and one waiting
   * per thread keeps every worker busy. Default 2 × threads (at least 2). Memory: this many blocks of bytes.
   */
  readonly maxInFlightBlocks?: number;
  /** On stop, how long in-flight messages may take before they are given back, in ms. Default 30000. */
  readonly drainTimeoutMs?: number;
  /** Retries for handlers that set none (`handleFor(..., { retries })`). Default 0. */
  readonly retries?: number;
  /**
   * The wait before every retry, instead of each handler's `backoff`: a number of ms (0 retries at once, as tests
   * want), or a backoff policy. Default: each handler's own.
   */
  readonly retryDelays?: number | Backoff;
  /** Timeout in ms for handlers that set none. Default 0: none. */
  readonly timeoutMs?: number;
  /** Put message bodies in dead-letter log lines (never for confidential ones). Default false. */
  readonly logBodies?: boolean;
  /** Time every handler for the duration histogram (`pipeline.timings`). Default false: it costs a little. */
  readonly measure?: boolean;
  readonly log?: Log;
  /** Told of every outcome as it happens, for an embedder's telemetry. Default: nobody. */
  readonly events?: OutcomeEvents;
}

/** A running pipeline. */
export interface Pipeline {
  /** Live figures. */
  readonly stats: Stats;
  /** Handler durations from every thread, when the run measures them. */
  readonly timings: Timings;
  /** How busy the worker threads have been, 0 to 1 (0 when handlers run inline). */
  utilization(): number;
  /** Resolves when the run ends: end of input, `stop()`, or a failure (then it rejects). */
  readonly done: Promise<RunStats>;
  /** Stops reading, finishes what is in flight (bounded by the drain timeout), and resolves with the figures. */
  stop(): Promise<RunStats>;
  /**
   * Gives up at once: nothing more is settled and the workers are terminated. Returns how many messages were read
   * and not settled; the caller is expected to exit.
   */
  kill(): number;
}

/**
 * Opens the adapter and starts moving messages: adapter → admission → dispatch → executor → outcomes → settle.
 * Blocks of lines go to the executor whole; batches of deliveries are routed here first unless the workers route
 * them (`matchInWorkers`).
 */
export async function startPipeline<M extends Message<unknown>>(options: PipelineOptions<M>): Promise<Pipeline> {
  const pipeline = new RunningPipeline(options);
  await pipeline.start();
  return pipeline;
}

class RunningPipeline<M extends Message<unknown>> implements Pipeline {
  readonly stats = new Stats();
  readonly timings = new Timings();
  done!: Promise<RunStats>;
  readonly #adapter: Adapter;
  readonly #processor: Processor<M>;
  readonly #log: Log;
  readonly #executor: Executor<M>;
  /** The worker pool, when handlers run in workers (`threads` > 0). */
  readonly #pool: PoolExecutor<M> | undefined;
  /** Whether this thread runs the matchers: no workers, or a processor that keeps them in the main thread. */
  readonly #routeHere: boolean;
  readonly #maxInFlight: number;
  /** Set when the run was given a message cap: line adapters cut their blocks to fit it. */
  readonly #maxBlockLines: number | undefined;
  /** Threads that run handlers at once: the workers, or this one. */
  readonly #parallelism: number;
  readonly #admission: Admission;
  readonly #dispatcher: Dispatcher<M>;
  readonly #settler: Settler;
  readonly #outcomes: Outcomes<M>;
  readonly #shutdown: Shutdown;
  readonly #feed: Feed<M>;

  constructor(options: PipelineOptions<M>) {
    const threads = options.threads ?? availableParallelism();
    const batchSize = options.batchSize ?? 1000;
    wholeNumberOption('threads', threads, 0);
    wholeNumberOption('batchSize', batchSize, 1);
    this.#parallelism = Math.max(1, threads);
    const log = (this.#log = options.log ?? silentLog);
    this.#adapter = options.adapter;
    this.#processor = options.processor;
    this.#maxInFlight = options.maxInFlight ?? 2 * batchSize * Math.max(1, threads);
    wholeNumberOption('maxInFlight', this.#maxInFlight, 1);
    const maxInFlightBlocks = options.maxInFlightBlocks ?? Math.max(2, 2 * threads);
    wholeNumberOption('maxInFlightBlocks', maxInFlightBlocks, 1);
    const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    const defaultRetries = options.retries ?? 0;
    const timeoutMs = options.timeoutMs ?? 0;
    wholeNumberOption('retries', defaultRetries, 0);
    wholeNumberOption('timeoutMs', timeoutMs, 0);
    const lateWarning = (warning: { id: string; text: string }) => log('warn', warning.text, { id: warning.id });
    const logStray = (stray: StrayError) =>
      log('error', strayErrorMessage(stray), { id: stray.id, handler: stray.handler, error: stray.text });
    if (threads > 0) {
      if (!options.moduleUrl) {
        throw new InvalidOptionError(
          'threads > 0 needs moduleUrl: the processor module workers import (or set threads: 0)',
        );
      }
      this.#executor = this.#pool = new PoolExecutor<M>({
        moduleUrl: options.moduleUrl,
        messageClass: options.processor.MessageClass,
        routes: routeTableOf(options.processor.routes),
        threads,
        batchSize,
        defaultTimeoutMs: timeoutMs,
        measure: options.measure ?? false,
        routeTimeouts: options.processor.routes.map((route) => route.options.timeout),
        onWorkerExit: (error) => log('error', 'worker exited; its batch is recovered', { error: describe(error) }),
        onStrayError: logStray,
      });
    } else {
      this.#executor = new InlineExecutor(options.processor, lateWarning, {
        defaultTimeoutMs: timeoutMs,
        measure: options.measure,
        batchSize,
        onStrayError: logStray,
      });
    }
    const executor = this.#executor;
    this.stats.countUnhandledErrorsOf(() => executor.unhandledErrors);
    this.stats.countDroppedOf(() => options.adapter.droppedByReason);
    this.#routeHere = !(this.#pool && options.processor.matchInWorkers);
    const capped = options.maxInFlight !== undefined;
    // A processor that routes here has each block split into deliveries in this thread, all alive until admitted:
    // blocks cut to the cap keep them to the cap's (a 4 MiB block of short lines is 100,000 deliveries; uncut, a
    // run peaked at 370 MB).
    const splitsHere = this.#routeHere && this.#pool !== undefined;
    this.#maxBlockLines = capped || splitsHere ? this.#maxInFlight : undefined;
    this.#admission = new Admission(this.stats, {
      maxMessages: this.#maxInFlight,
      maxBlocks: maxInFlightBlocks,
      blocksCountAsMessages: capped,
    });
    this.#dispatcher = new Dispatcher({
      executor: this.#executor,
      batchSize,
      lingerMs: options.lingerMs ?? 2,
      onResult: (batch, result) => {
        if (result.timings) this.timings.merge(result.timings);
        this.#outcomes.settleBatch(batch, result);
      },
      onError: (batch, error) => {
        // After giving up, a batch cut short by terminating the pool is already counted as unsettled.
        if (!this.#shutdown.gaveUp) this.#shutdown.fail(error, batch.deliveries);
      },
      onBlockResult: (block, result) => this.#blockAnswered(block, result),
      onBlockError: (block, error) => {
        if (this.#shutdown.gaveUp) return;
        const messages = messagesIn(block);
        this.#feed.releaseBlock(block, messages);
        // A block cannot be handed back to its input: its messages are unsettled, and named.
        this.stats.unsettled += messages;
        this.stats.noteUnsettled(idsInBlock(block));
        this.#shutdown.fail(error, []);
      },
      revoked: this.#adapter.revoked ? (delivery) => this.#adapter.revoked!(delivery) : undefined,
      onRevoked: (deliveries) => this.#settler.requeuedByBroker(deliveries),
      // One batch per worker: the others wait in the dispatcher, where those taken back can still be dropped.
      maxRunning: this.#pool ? threads : undefined,
    });
    this.#settler = new Settler({
      adapter: this.#adapter,
      dlq: options.dlq,
      stats: this.stats,
      log,
      logBodies: options.logBodies ?? false,
      events: options.events,
      onDlqFailure: (error, entries) =>
        this.#shutdown.fail(
          error,
          entries.map((entry) => entry.delivery),
          entries.map((entry) => entry.letter.id),
        ),
      onProgress: () => {
        this.#admission.progress();
        this.#shutdown.progress();
      },
    });
    this.#outcomes = new Outcomes({
      adapter: this.#adapter,
      processor: this.#processor,
      settler: this.#settler,
      stats: this.stats,
      log,
      fingerprint: fingerprintOf(options.processor.name, options.processor.version),
      defaultRetries,
      backoff: retryDelaysBackoff(options.retryDelays),
      retry: (delivery, item) => this.#dispatcher.push(delivery, item),
      stopping: () => this.#shutdown.stopping,
      gaveUp: () => this.#shutdown.gaveUp,
      events: options.events,
    });
    const intake = new Intake({
      processor: this.#processor,
      routeHere: this.#routeHere,
      offThread: this.#pool !== undefined,
      stats: this.stats,
      dispatcher: this.#dispatcher,
      outcomes: this.#outcomes,
      settler: this.#settler,
      deliveryLimit: this.#adapter.deliveryLimit,
    });
    this.#shutdown = new Shutdown({
      adapter: this.#adapter,
      settler: this.#settler,
      stats: this.stats,
      admission: this.#admission,
      log,
      drainTimeoutMs,
      nackRetries: () => this.#outcomes.nackRetries(),
      running: () => [...this.#dispatcher.running].flatMap((batch) => batch.deliveries),
      runningIds: () => [...this.#dispatcher.runningIds(), ...this.#outcomes.retryingIds()],
      writingIds: () => this.#settler.writingIds(),
      settleCounts: () => {
        for (const block of this.#dispatcher.runningBlocks) this.#feed.countBlank(block, messagesIn(block));
      },
      idle: () => this.#dispatcher.idle(),
      destroyWorkers: () => void this.#pool?.destroy(),
    });
    this.#feed = new Feed({
      adapter: this.#adapter,
      stats: this.stats,
      admission: this.#admission,
      dispatcher: this.#dispatcher,
      intake,
      settler: this.#settler,
      shutdown: this.#shutdown,
      splitBlocks: this.#routeHere && this.#pool !== undefined,
    });
  }

  async start(): Promise<void> {
    if (this.#executor instanceof InlineExecutor) await this.#executor.start();
    // Workers whose import registers other routes fail the run here, before any input is read.
    else
      await this.#pool?.start().catch(async (error: unknown) => {
        await this.#pool?.destroy();
        throw error;
      });
    let readable: Readable;
    try {
      readable = await this.#adapter.open({
        maxInFlight: this.#maxInFlight,
        maxBlockLines: this.#maxBlockLines,
        parallelism: this.#parallelism,
      });
    } catch (error) {
      // Nothing was read, but the worker threads exist: release them, or they keep an embedding process alive.
      await this.#executor.close().catch(() => {});
      throw error;
    }
    this.done = this.#run(readable);
    // The caller may only look at `done` later; a failure must not count as unhandled meanwhile.
    this.done.catch(() => {});
  }

  utilization(): number {
    return this.#pool?.utilization ?? 0;
  }

  stop(): Promise<RunStats> {
    this.#shutdown.stop();
    return this.done;
  }

  kill(): number {
    return this.#shutdown.kill();
  }

  async #run(readable: Readable): Promise<RunStats> {
    const shutdown = this.#shutdown;
    await this.#feed.run(readable);
    await shutdown.drain();
    if (this.stats.inFlight === 0) this.stats.noteSettled();
    if (shutdown.killed) {
      await this.#pool?.destroy();
    } else if (shutdown.gaveUp) {
      const busy = this.#dispatcher.running.size > 0 || this.#dispatcher.runningBlocks.size > 0;
      await closeAfterGivingUp(this.#executor, this.#pool, busy, this.#log);
    } else {
      await this.#executor.close().catch((error: unknown) => shutdown.fail(error, []));
    }
    await this.#settler.idle();
    await this.#adapter
      .close()
      .catch((error: unknown) => this.#log('warn', 'adapter close failed', { error: describe(error) }));
    const stats = this.stats.snapshot();
    if (shutdown.failed) throw shutdown.failure;
    return stats;
  }

  #blockAnswered(block: LineBlock, result: BlockResult): void {
    if (this.#shutdown.gaveUp) return;
    if (result.timings) this.timings.merge(result.timings);
    this.#feed.releaseBlock(block, result.messages);
    // The exceptions' bytes are copied out as they are settled; after that nothing reads the block.
    this.#outcomes.settleBlock(block, result);
    block.release?.();
  }
}
