import { availableParallelism } from 'node:os';
import type { Adapter } from '../adapters/adapter.js';
import type { AdapterSpec, FlagSpec } from '../adapters/spec.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../adapters/lines.js';
import type { Dlq } from '../dlq/dlq.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import { LazyDlq } from '../dlq/lazy.js';
import { redactUrl } from '../dlq/postgres/postgres-url.js';
import { MissiveError, UsageError, describe } from '../errors.js';
import type { Log, LogLevel } from '../log.js';
import { DEFAULT_DLQ_PATH, run, type Running } from '../run.js';
import { ADAPTERS, adapterArgument, adapterNamed, isAdapterModule, loadAdapterSpec } from './adapters.js';
import {
  ENVIRONMENT_HELP,
  describeFlags,
  environmentName,
  intFlag,
  parseFlags,
  withEnvironment,
  wrap,
  type FlagTable,
  type FlagValues,
} from './flags.js';
import { loadProcessor } from './load-processor.js';
import { LOG_LEVELS, createLogger } from './logger.js';
import { startProgress } from './report.js';
import { RunEnd, showIds, type Ending } from './run-end.js';
import { onStopSignals } from './signals.js';
import type { Server } from 'node:http';

export { DEFAULT_DLQ_PATH };

/** The flags of `missive run` itself; each adapter adds its own. */
const RUN_FLAGS: FlagTable = {
  adapter: {
    type: 'string',
    default: 'file with --input, else stdin',
    description: `the transport: ${ADAPTERS.map((a) => a.name).join(', ')}`,
  },
  threads: {
    type: 'string',
    default: 'available cores',
    description: 'worker threads running handlers; 0 runs them in the main thread',
  },
  'batch-size': { type: 'string', default: '1000', description: 'messages per worker task' },
  linger: { type: 'string', default: '2', description: 'ms a partial batch waits for more messages' },
  'max-in-flight': {
    type: 'string',
    default: '2 x batch size x threads',
    description: 'messages read and not yet settled; reading pauses at the cap',
  },
  'max-in-flight-blocks': {
    type: 'string',
    default: '2 x threads',
    description: 'line input: blocks handed to workers and not yet answered',
  },
  'max-message-bytes': {
    type: 'string',
    default: String(DEFAULT_MAX_MESSAGE_BYTES),
    description: 'larger messages become dead letters "message too large"',
  },
  retries: {
    type: 'string',
    default: '0',
    description: 'retries for handlers that set none (exponential backoff with jitter)',
  },
  timeout: {
    type: 'string',
    default: 'none',
    description: 'ms a handler may run, for handlers that set none; then a dead letter "timeout after N ms"',
  },
  'drain-timeout': { type: 'string', default: '30000', description: 'ms to finish in-flight messages after a signal' },
  dlq: {
    type: 'string',
    default: DEFAULT_DLQ_PATH,
    description:
      'the DuckDB file dead letters go to (opened, or created, at start), or a postgres://user@host:port/db URL',
  },
  'stats-file': { type: 'string', description: 'write the final figures there as JSON' },
  'log-level': { type: 'string', default: 'info', description: LOG_LEVELS.join(', ') },
  'log-bodies': {
    type: 'boolean',
    description: 'put message bodies in dead-letter log lines (never confidential ones)',
  },
  'metrics-port': {
    type: 'string',
    description: 'serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port)',
  },
  'metrics-host': { type: 'string', default: '127.0.0.1', description: 'the address the metrics server listens on' },
  quiet: {
    type: 'boolean',
    description: 'no progress line, no summary, and only warnings and errors logged (unless --log-level)',
  },
  help: { type: 'boolean', description: 'show this help' },
};

/** Every flag `missive run` knows, so a flag of another adapter is recognised and reported as misplaced. */
function allFlags(custom?: AdapterSpec): FlagTable {
  const table: Record<string, FlagSpec> = { ...RUN_FLAGS };
  for (const spec of ADAPTERS) Object.assign(table, spec.flags);
  if (custom) Object.assign(table, custom.flags);
  return table;
}

/** `missive run --help`; with `--adapter ./module.js`, that adapter's flags too. */
export function runHelp(custom?: AdapterSpec): string {
  const adapters = [...(custom ? [custom] : []), ...ADAPTERS]
    .map((spec) => {
      const flags = Object.keys(spec.flags).length > 0 ? `\n${describeFlags(spec.flags)}` : '';
      return `--adapter ${spec.name}: ${spec.summary}${flags}`;
    })
    .join('\n\n');
  return `Usage: missive run <processor module> [options]

Runs every message from a transport through the processor module's handlers, on every core. Messages that cannot
be processed are stored as dead letters in a DuckDB file before they are acked. Ctrl-C (SIGINT), SIGTERM or SIGHUP
stops reading and finishes what is in flight; a second signal, or SIGQUIT, exits at once. Either way the summary
and --stats-file are written.

Options:
${describeFlags(RUN_FLAGS)}

${adapters}

${wrap(ENVIRONMENT_HELP)}

Exit status: 0 when the run ends normally, 2 on a usage error (nothing is read), 1 when the run fails, 3 when it
ended with messages read and neither handled nor stored that the transport cannot deliver again (a drain timeout,
a second signal or SIGQUIT on stdin or files: the first 100 ids are logged, and all of them listed in --stats-file
as unsettledIds).
`;
}

/** Errors of `run()` at start that come from what the user gave (--input, --dlq, the module): exit 2, as usage errors. */
const USAGE_CODES = new Set([
  'MISSIVE_ERR_INPUT',
  'MISSIVE_ERR_DLQ',
  'MISSIVE_ERR_DLQ_LOCKED',
  'MISSIVE_ERR_PROCESSOR_MODULE',
]);

/** A bad --input or --dlq is the user's typo, reported like any other usage error. */
function asUsageError(error: unknown): never {
  if (error instanceof MissiveError && USAGE_CODES.has(error.code)) throw new UsageError(error.message);
  throw error;
}

/** `missive run`: resolves with the exit status. */
export async function runCommand(argv: readonly string[]): Promise<number> {
  // A module's adapter brings flags of its own, so it is loaded before the command line can be parsed.
  const named = adapterArgument(argv, process.env);
  const custom =
    named !== undefined && isAdapterModule(named)
      ? await loadAdapterSpec(named, new Set(Object.keys(RUN_FLAGS)))
      : undefined;
  const parsed = parseFlags('run', argv, allFlags(custom));
  const { positionals } = parsed;
  const values = withEnvironment(parsed.values, RUN_FLAGS);
  if (values['help']) {
    process.stdout.write(runHelp(custom));
    return 0;
  }
  const setup = await prepare(values, positionals, custom);
  const { processor, adapter, dlqPath, log } = setup;
  const quiet = values['quiet'] === true;

  // Loaded only when asked for: prom-client costs a tenth of a second of start-up.
  const metrics =
    setup.metricsPort === undefined
      ? undefined
      : (await import('../metrics.js')).fingerprintRegistry(fingerprintOf(processor.name, processor.version));
  // Listening before the run starts, so a port in use is a usage error before any input is read.
  let metricsServer: Server | undefined;
  if (metrics && setup.metricsPort !== undefined) {
    const { serveMetrics } = await import('./metrics-server.js');
    const served = await serveMetrics(metrics, setup.metricsPort, setup.metricsHost);
    metricsServer = served.server;
    log('info', `metrics at ${served.url}`, { url: served.url });
  }
  // The main thread's busy time is what bounds how many cores a run can feed; benchmarks read it from --stats-file.
  const statsFile = typeof values['stats-file'] === 'string' ? values['stats-file'] : undefined;
  const ending = new RunEnd({ adapter, log, quiet, statsFile, dlqPath });
  ending.closes(metricsServer);
  let pipeline: Running;
  try {
    pipeline = await run(processor, {
      adapter,
      dlq: setup.dlq,
      module: setup.moduleUrl,
      threads: setup.threads,
      batchSize: setup.batchSize,
      lingerMs: setup.lingerMs,
      maxInFlight: setup.maxInFlight,
      maxInFlightBlocks: setup.maxInFlightBlocks,
      drainTimeoutMs: setup.drainTimeoutMs,
      retries: setup.retries,
      timeoutMs: setup.timeoutMs,
      logBodies: values['log-bodies'] === true,
      logger: log,
      metrics,
    });
  } catch (error) {
    asUsageError(error);
  }

  const stopProgress = quiet ? () => {} : startProgress(pipeline.stats);
  // A stop at once names what it leaves and ends through the same report as any other end, then exits.
  const stopNow = (why: string, how: Ending) => {
    const unsettled = pipeline.kill();
    stopProgress();
    process.stderr.write(
      `missive: exiting at once on ${why}; ${unsettled} messages were not settled${showIds(pipeline.stats.unsettledIds, unsettled)}\n`,
    );
    void ending.end(pipeline.stats.snapshot(), how).then((status) => process.exit(status));
  };
  onStopSignals({
    drain: (signal) => {
      log('info', `${signal}: stopping; send it again to exit at once`);
      void pipeline.stop().catch(() => {});
    },
    stopNow: (why) => stopNow(why, 'forced'),
  });
  // Node exits when nothing is left to wait for, even mid-run (a promise that never settles holds nothing open): a
  // run that stalls must say so and fail instead.
  const onStall = () => {
    process.stderr.write(
      `missive: the run stalled: ${pipeline.stats.inFlight} messages in flight and nothing left that could settle them; ` +
        'a handler whose promise never settles does this: give it a timeout (handleFor option timeout, or --timeout)\n',
    );
    stopNow('a stall', 'stalled');
  };
  process.once('beforeExit', onStall);
  void pipeline.done.then(
    () => process.off('beforeExit', onStall),
    () => process.off('beforeExit', onStall),
  );
  log('info', 'running', { adapter: adapter.name, threads: setup.threads, dlq: dlqPath ?? 'set by the module' });

  let failed = false;
  let stats;
  try {
    stats = await pipeline.done;
  } catch (error) {
    failed = true;
    stats = pipeline.stats.snapshot();
    process.stderr.write(`missive: the run failed: ${describe(error)}\n`);
  } finally {
    stopProgress();
    // run() closes the file it opened; the module's own store is closed here, as the module ends with the run.
    if (typeof setup.dlq === 'object') {
      await setup.dlq.close().catch((error: unknown) => {
        failed = true;
        process.stderr.write(`missive: closing the dead-letter store failed: ${describe(error)}\n`);
      });
    }
  }
  return ending.end(stats, failed ? 'failed' : 'done');
}

interface RunSetup {
  readonly processor: Awaited<ReturnType<typeof loadProcessor>>['processor'];
  readonly moduleUrl: string;
  readonly adapter: Adapter;
  /** The module's own store, or the path of the DuckDB file (`run` opens it before reading input). */
  readonly dlq: Dlq | string;
  readonly dlqPath: string | undefined;
  readonly threads: number;
  readonly batchSize: number;
  readonly lingerMs: number;
  readonly maxInFlight: number | undefined;
  readonly maxInFlightBlocks: number | undefined;
  readonly drainTimeoutMs: number;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  readonly log: Log;
}

/** Everything that can be wrong with the command line is found here, before a message is read. */
async function prepare(values: FlagValues, positionals: string[], custom: AdapterSpec | undefined): Promise<RunSetup> {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "run needs the processor module: missive run ./processor.js [options]; see 'missive run --help'"
        : `run takes one processor module, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const spec = custom ?? chooseAdapter(values);
  if (custom) refuseMisplaced(values, custom);
  Object.assign(values, withEnvironment(values, spec.flags));
  const threads = intFlag(values, 'threads', availableParallelism(), 0);
  const batchSize = intFlag(values, 'batch-size', 1000, 1);
  const lingerMs = intFlag(values, 'linger', 2, 0);
  const maxInFlight = values['max-in-flight'] === undefined ? undefined : intFlag(values, 'max-in-flight', 0, 1);
  const maxInFlightBlocks =
    values['max-in-flight-blocks'] === undefined ? undefined : intFlag(values, 'max-in-flight-blocks', 0, 1);
  const drainTimeoutMs = intFlag(values, 'drain-timeout', 30_000, 0);
  const retries = intFlag(values, 'retries', 0, 0);
  const timeoutMs = intFlag(values, 'timeout', 0, 1);
  const metricsPort = values['metrics-port'] === undefined ? undefined : intFlag(values, 'metrics-port', 0, 0);
  const metricsHost = typeof values['metrics-host'] === 'string' ? values['metrics-host'] : '127.0.0.1';
  const maxMessageBytes = intFlag(values, 'max-message-bytes', DEFAULT_MAX_MESSAGE_BYTES, 1);
  // --quiet is for scripts: no progress, no summary, and only the lines that need a person (warnings, errors).
  const logLevel = (values['log-level'] ?? (values['quiet'] === true ? 'warn' : 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new UsageError(`--log-level takes one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);

  const { processor, url } = await loadProcessor(positionals[0]!);
  const { log } = await createLogger(logLevel, fingerprintOf(processor.name, processor.version));
  const adapter = await spec.create(values, { maxMessageBytes, log });

  // The module's own store wins unless --dlq says otherwise, provided it keeps letters past the process.
  const explicit = typeof values['dlq'] === 'string' ? values['dlq'] : undefined;
  let dlq: Dlq | string;
  let dlqPath: string | undefined;
  if (processor.dlq && !explicit) {
    if (processor.dlq.durable !== true) throw notDurable(processor.dlq);
    dlq = processor.dlq;
    // A module's store that opens at first use (new DuckDbDlq(path)) is opened before any input is read, as --dlq is.
    if (dlq instanceof LazyDlq) await dlq.openNow().catch(asUsageError);
  } else {
    dlq = explicit ?? DEFAULT_DLQ_PATH;
    // Shown in logs and the summary: a PostgreSQL URL without its password.
    dlqPath = redactUrl(dlq);
  }
  return {
    processor,
    moduleUrl: url,
    adapter,
    dlq,
    dlqPath,
    threads,
    batchSize,
    lingerMs,
    maxInFlight,
    maxInFlightBlocks,
    drainTimeoutMs,
    retries,
    timeoutMs,
    metricsPort,
    metricsHost,
    log,
  };
}

/** A module-set store that loses letters at exit would make missive run ack messages into nothing. */
function notDurable(dlq: Dlq): UsageError {
  const what = dlq.constructor?.name && dlq.constructor.name !== 'Object' ? dlq.constructor.name : 'its store';
  const why =
    dlq.durable === false
      ? `${what} keeps dead letters only until the process exits`
      : `${what} does not say that it is durable (its durable property is not true)`;
  return new UsageError(
    `the processor module sets a dead-letter store with setDlq, and ${why}: missive run acks a message once its ` +
      'dead letter is stored, so those messages would be lost. Give --dlq FILE to keep them in a DuckDB file, or ' +
      'remove setDlq from the module (a MemoryDlq is for processor.testClient and tests); a store of your own says ' +
      '`durable = true` once put() resolves only after the letter is safe',
  );
}

function chooseAdapter(values: FlagValues): AdapterSpec {
  const input = values['input'] ?? process.env[environmentName('input')];
  const name = typeof values['adapter'] === 'string' ? values['adapter'] : input ? 'file' : 'stdin';
  const spec = adapterNamed(name);
  if (!spec) {
    throw new UsageError(
      `--adapter takes one of ${ADAPTERS.map((a) => a.name).join(', ')}, or the path of a module of your own ` +
        `(./my-adapter.js), got '${name}'`,
    );
  }
  refuseMisplaced(values, spec);
  return spec;
}

/** A flag of another adapter than the chosen one is a mistake worth naming. */
function refuseMisplaced(values: FlagValues, spec: AdapterSpec): void {
  for (const flag of Object.keys(values)) {
    if (flag in RUN_FLAGS || flag in spec.flags) continue;
    const owner = ADAPTERS.find((other) => flag in other.flags);
    throw new UsageError(`--${flag} is a flag of --adapter ${owner?.name ?? '?'}, not of --adapter ${spec.name}`);
  }
}
