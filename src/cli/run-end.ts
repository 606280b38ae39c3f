import type { Server } from 'node:http';
import { describe } from '../errors.js';
import type { Log } from '../log.js';
import type { RunStats } from '../streams/stats.js';
import { threadTimes, threadTimesSince } from '../thread-time.js';
import { printSummary, writeStatsFile } from './report.js';

/**
 * The exit status of a run that ended with messages read and neither handled nor stored, from a transport that
 * cannot deliver them again (a drain timeout or a forced stop on line input).
 */
export const EXIT_UNSETTLED = 3;

/** How many unsettled ids a log line shows; the stats file lists them all. */
const IDS_SHOWN = 100;

/**
 * How a run ended: its input ended or a drain finished (`done`), `run()` failed, it was stopped at once (a second
 * signal, SIGQUIT), or nothing was left that could settle its messages (`stalled`, a handler's bug).
 */
export type Ending = 'done' | 'failed' | 'forced' | 'stalled';

/** What {@link RunEnd} reports to. */
export interface RunEndOptions {
  /** The transport's name, and whether it delivers again what a run leaves unsettled. */
  readonly adapter: { readonly name: string; readonly canRequeue: boolean };
  readonly log: Log;
  /** No summary on stderr. */
  readonly quiet: boolean;
  /** Where `--stats-file` writes the figures. */
  readonly statsFile: string | undefined;
  /** The DuckDB file the summary points to when there are dead letters. */
  readonly dlqPath: string | undefined;
}

/**
 * The end of a `missive run`, whichever way it comes: the one place that decides the exit status and writes the
 * stats file, the unsettled ids and the summary, once. Made when the run starts: the main thread's busy time in
 * the stats file counts from here.
 */
export class RunEnd {
  readonly #options: RunEndOptions;
  readonly #busyAtStart = performance.eventLoopUtilization();
  readonly #timesAtStart = threadTimes();
  #metricsServer: Server | undefined;
  #ended: Promise<number> | undefined;

  constructor(options: RunEndOptions) {
    this.#options = options;
  }

  /** A metrics server to close when the run ends. */
  closes(server: Server | undefined): void {
    this.#metricsServer = server;
  }

  /** The first call reports and resolves with the exit status; later ones (a run that ends two ways) get the same. */
  end(stats: RunStats, ending: Ending): Promise<number> {
    return (this.#ended ??= this.#report(stats, ending));
  }

  async #report(stats: RunStats, ending: Ending): Promise<number> {
    const { adapter, log, quiet, statsFile, dlqPath } = this.#options;
    this.#metricsServer?.close();
    // Read and neither handled nor stored, from an input that cannot give them again: the run must not pass. A
    // stall is a handler's bug, reported as a failure whatever it left.
    const lost = stats.unsettled > 0 && !adapter.canRequeue;
    let status = ending === 'stalled' ? 1 : lost ? EXIT_UNSETTLED : ending === 'done' ? 0 : 1;
    // The file first: it is what scripts read, and writes to a terminal that hung up (SIGHUP) may fail.
    if (statsFile !== undefined) {
      const times = threadTimesSince(this.#timesAtStart);
      await writeStatsFile(statsFile, stats, {
        busyMs: performance.eventLoopUtilization(this.#busyAtStart).active,
        times,
      }).catch((error: unknown) => {
        status = Math.max(status, 1);
        process.stderr.write(`missive: cannot write the stats file ${statsFile}: ${describe(error)}\n`);
      });
    }
    if (lost) {
      const ids = stats.unsettledIds;
      const all =
        ids.length > IDS_SHOWN
          ? `; the first ${IDS_SHOWN} ids shown${statsFile ? `, all ${ids.length} in ${statsFile}` : ', all of them with --stats-file'}`
          : '';
      log(
        'error',
        `${stats.unsettled} messages were read and not settled; ${adapter.name} cannot deliver them again${all}`,
        {
          unsettledIds: ids.slice(0, IDS_SHOWN),
        },
      );
    }
    if (!quiet) printSummary(stats, dlqPath);
    return status;
  }
}

/** `ids` for a line of text: the first {@link IDS_SHOWN}, and how many more. */
export function showIds(ids: readonly string[], count: number): string {
  if (ids.length === 0) return '';
  const more = Math.max(count, ids.length) - Math.min(ids.length, IDS_SHOWN);
  return ` (ids: ${ids.slice(0, IDS_SHOWN).join(', ')}${more > 0 ? `, ... ${more} more` : ''})`;
}
