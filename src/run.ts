import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Adapter } from './adapters/adapter.js';
import type { DeadLetterInput, Dlq } from './dlq/dlq.js';
import { checkDuckDbFile } from './dlq/duckdb-file.js';
import { fingerprintOf } from './dlq/fingerprint.js';
import { isPostgresUrl } from './dlq/postgres/postgres-url.js';
import { socketPathFor } from './dlq/socket-path.js';
import { ensureSocketDirectory, reportUnserved } from './dlq/socket-dir-check.js';
import { InvalidOptionError } from './errors.js';
import type { Log, LogLevel } from './log.js';
import type { Message } from './message.js';
import type { RegistryLike } from './metrics.js';
import type { Processor } from './processor.js';
import type { OutcomeEvents } from './streams/events.js';
import type { Pipeline, PipelineOptions } from './streams/pipeline.js';
import type { RunStats, Stats } from './streams/stats.js';

/** Where dead letters go when a run is given no store: a DuckDB file in the working directory. */
export const DEFAULT_DLQ_PATH = './missive-dlq.duckdb';

/** Anything that logs like pino (`logger.warn(fields, message)`): a pino logger, or `console`. */
export interface LoggerLike {
  info(fields: Record<string, unknown>, message: string): unknown;
  warn(fields: Record<string, unknown>, message: string): unknown;
  error(fields: Record<string, unknown>, message: string): unknown;
  debug?(fields: Record<string, unknown>, message: string): unknown;
}

/**
 * How {@link run} runs a processor. Every option has a default that suits most runs; the same options as the
 * flags of `missive run`.
 */
export interface RunOptions extends Pick<
  PipelineOptions<Message<unknown>>,
  | 'threads'
  | 'batchSize'
  | 'lingerMs'
  | 'maxInFlight'
  | 'maxInFlightBlocks'
  | 'drainTimeoutMs'
  | 'retries'
  | 'retryDelays'
  | 'timeoutMs'
  | 'logBodies'
> {
  /**
   * The processor module, as the workers import it: pass `import.meta.url` from the module that default-exports
   * the processor. Required when `threads` is above 0 (the default): each worker imports the module by URL.
   */
  readonly module?: string | URL;
  /** Where messages come from. Default: standard input, a line a message. */
  readonly adapter?: Adapter;
  /**
   * Where dead letters are stored before their messages are acked: a store, or the path of a DuckDB file (opened,
   * and created if missing, before any input is read; closed when the run ends). Default: the processor's own
   * store (`setDlq`), else {@link DEFAULT_DLQ_PATH}. A store you pass is yours to close.
   */
  readonly dlq?: Dlq | string;
  /** Receives the run's log lines. Default: nothing is logged. */
  readonly logger?: LoggerLike | Log;
  /** Adds the run's Prometheus metrics (the same as `missive run --metrics-port`) to this registry. */
  readonly metrics?: RegistryLike;
  /** Time every handler for the duration histogram (on when `metrics` is given). Default false. */
  readonly measure?: boolean;
}

/** Events of a {@link Running} run, for your own telemetry. Emitted per batch, after the transport was told. */
export interface RunEvents {
  /** Messages handled and acked. */
  acked: [{ count: number }];
  /** Messages handed back to the transport for redelivery. */
  nacked: [{ count: number }];
  /**
   * A message stored as a dead letter (then acked). A confidential letter comes without its body, error and
   * headers.
   */
  'dead-lettered': [{ id: string; reason: string; handler: string | null; letter: DeadLetterInput }];
  /** A failed message that will be tried again after `delayMs`. */
  retrying: [{ id: string; handler: string; attempt: number; delayMs: number }];
}

/** A run in progress. */
export interface Running extends EventEmitter<RunEvents> {
  /** Live figures. */
  readonly stats: Stats;
  /** Resolves with the final figures when the input ends, or after `stop()`; rejects when the run fails. */
  readonly done: Promise<RunStats>;
  /** Stops taking messages, finishes those in flight (up to the drain timeout), and resolves with the figures. */
  stop(): Promise<RunStats>;
  /** Gives up at once, settling nothing more; returns how many messages were read and not settled. */
  kill(): number;
}

/**
 * Runs a processor in this process, as `missive run` does: messages from `adapter` through the handlers, on
 * worker threads, with dead letters stored before their messages are acked.
 *
 * ```js
 * import { run } from 'missive-node';
 * import processor from './processor.js';
 * const running = await run(processor, { module: new URL('./processor.js', import.meta.url) });
 * process.once('SIGTERM', () => running.stop());
 * console.log(await running.done);
 * ```
 */
export async function run<M extends Message<unknown>>(
  processor: Processor<M>,
  options: RunOptions = {},
): Promise<Running> {
  const threads = options.threads;
  const moduleUrl = moduleUrlOf(options.module);
  if ((threads === undefined || threads > 0) && moduleUrl === undefined) {
    throw new InvalidOptionError(
      'run() needs options.module, the URL worker threads import the processor from: pass import.meta.url from ' +
        'the module that default-exports the processor (or threads: 0 to run handlers in this thread)',
    );
  }
  const log = logOf(options.logger);
  const fingerprint = fingerprintOf(processor.name, processor.version);
  const { dlq, owned } = await storeOf(options.dlq, processor, fingerprint, log);
  const emitter = new EventEmitter<RunEvents>();
  let pipeline: Pipeline;
  let adapter: Adapter;
  try {
    // Imported here, not at the top: every worker thread imports the processor module, which imports this package,
    // and the pipeline (Piscina with it) and the default adapter are needed only in the thread that starts a run;
    // loaded at the top, they cost each worker ~25 ms of start-up.
    const { startPipeline } = await import('./streams/pipeline.js');
    adapter = options.adapter ?? new (await import('./adapters/stdin.js')).StdinAdapter();
    pipeline = await startPipeline({
      ...options,
      processor,
      adapter,
      dlq,
      moduleUrl,
      log,
      measure: options.measure ?? options.metrics !== undefined,
      events: eventsOf(emitter),
    });
  } catch (error) {
    if (owned) await dlq.close().catch(() => {});
    throw error;
  }
  if (options.metrics) {
    // Loaded only when asked for: prom-client costs a tenth of a second of start-up.
    const { createMetrics } = await import('./metrics.js');
    createMetrics(
      {
        stats: pipeline.stats,
        timings: pipeline.timings,
        handlerNames: processor.routes.map((route) => route.name),
        utilization: () => pipeline.utilization(),
        rejectedByStatus: () => adapter.rejectedByStatus,
      },
      fingerprint,
      options.metrics,
    );
  }
  const closeOwned = async <T>(result: T): Promise<T> => {
    if (owned) await dlq.close();
    return result;
  };
  const done = pipeline.done.then(closeOwned, async (error: unknown) => {
    if (owned) await dlq.close().catch(() => {});
    throw error;
  });
  done.catch(() => {});
  return Object.assign(emitter, {
    stats: pipeline.stats,
    done,
    stop: () => {
      void pipeline.stop().catch(() => {});
      return done;
    },
    kill: () => pipeline.kill(),
  });
}

/** The processor module as a URL a worker can import: a URL as given, a path resolved from the working directory. */
export function moduleUrlOf(module: string | URL | undefined): string | undefined {
  if (module === undefined) return undefined;
  const text = String(module);
  // A path is taken for what it names: a worker imports by URL.
  return /^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text) ? text : pathToFileURL(resolve(text)).href;
}

function logOf(logger: LoggerLike | Log | undefined): Log | undefined {
  if (logger === undefined) return undefined;
  if (typeof logger === 'function') return logger;
  return (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    // Called with `logger` as `this` on the next line, so the method is not used unbound.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const write = level === 'debug' ? logger.debug : logger[level];
    write?.call(logger, fields ?? {}, message);
  };
}

async function storeOf<M extends Message<unknown>>(
  given: Dlq | string | undefined,
  processor: Processor<M>,
  fingerprint: ReturnType<typeof fingerprintOf>,
  log: Log | undefined,
): Promise<{ dlq: Dlq; owned: boolean }> {
  if (typeof given === 'object') return { dlq: given, owned: false };
  if (given === undefined && processor.dlq) return { dlq: processor.dlq, owned: false };
  if (given !== undefined && isPostgresUrl(given)) {
    // Loaded only when asked for, as DuckDB is: most runs never need the pg client.
    const { PostgresDlq } = await import('./dlq/postgres/postgres-store.js');
    return { dlq: await PostgresDlq.open(given, { fingerprint, ...(log ? { log } : {}) }), owned: true };
  }
  const path = resolve(given ?? DEFAULT_DLQ_PATH);
  await checkDuckDbFile(path);
  // The store answers `missive dlq` commands on a socket once open. Its directory is made (or found unsafe) now,
  // before any input is read: a run whose commands cannot reach it says so at start, and once this user holds the
  // directory nobody else can take it meanwhile. Not serving is no reason to stop the run (another user could then
  // stop every run of yours): it is a warning.
  const unserved = (error: unknown) => reportUnserved(path, error, log);
  await ensureSocketDirectory(socketPathFor(path)).catch(unserved);
  // Taken before any input is read, though DuckDB then costs a run ~40 MB even when nothing fails: a store that
  // cannot be opened (no such place, a damaged file) or that another run holds is refused at start, instead of
  // failing at the first dead letter with messages read that nobody can store.
  const { DuckDbDlq } = await import('./dlq/duckdb.js');
  return { dlq: await DuckDbDlq.open(path, { fingerprint, onServeError: unserved }), owned: true };
}

/** The pipeline's outcome sink, emitting only what someone listens to. */
function eventsOf(emitter: EventEmitter<RunEvents>): OutcomeEvents {
  return {
    acked: (count) => {
      if (emitter.listenerCount('acked') > 0) emitter.emit('acked', { count });
    },
    nacked: (count) => {
      if (emitter.listenerCount('nacked') > 0) emitter.emit('nacked', { count });
    },
    deadLettered: (letter) => {
      if (emitter.listenerCount('dead-lettered') === 0) return;
      const shown = letter.confidential ? { ...letter, body: Buffer.alloc(0), error: null, headers: null } : letter;
      emitter.emit('dead-lettered', {
        id: letter.id,
        reason: letter.reason,
        handler: letter.handler ?? null,
        letter: shown,
      });
    },
    retrying: (event) => {
      if (emitter.listenerCount('retrying') > 0) emitter.emit('retrying', event);
    },
  };
}
