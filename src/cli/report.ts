import { writeFile } from 'node:fs/promises';
import type { RunStats, Stats } from '../streams/stats.js';
import type { ThreadTimes } from '../thread-time.js';

// Made at first use: building a number format loads ICU data, ~10 ms of start-up that a --quiet run never needs.
let format: Intl.NumberFormat | undefined;
const number = { format: (n: number): string => (format ??= new Intl.NumberFormat('en-US')).format(n) };

/**
 * A one-line progress display on a terminal, redrawn every second: rate, acked, dead letters. Nothing when stderr
 * is not a terminal (logs and pipes get the summary only).
 */
export function startProgress(stats: Stats): () => void {
  if (!process.stderr.isTTY) return () => {};
  let last = 0;
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const settled = stats.acked + stats.nacked + stats.deadLettered;
    const rate = ((settled - last) * 1000) / Math.max(1, now - lastAt);
    last = settled;
    lastAt = now;
    process.stderr.write(
      `\r\x1b[K${number.format(Math.round(rate))} msg/s · acked ${number.format(stats.acked)} · ` +
        `dead letters ${number.format(stats.deadLettered)} · in flight ${number.format(stats.inFlight)}`,
    );
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}

/** The final summary, on stderr. */
export function printSummary(stats: RunStats, dlqPath: string | undefined): void {
  const rate = stats.seconds > 0 ? Math.round((stats.acked + stats.nacked + stats.deadLettered) / stats.seconds) : 0;
  const reasons = counts(stats.deadLetteredByReason);
  const lines = [
    `missive: ${number.format(stats.received)} received · ${number.format(stats.acked)} acked · ` +
      `${number.format(stats.nacked)} nacked · ${number.format(stats.deadLettered)} dead letters` +
      (reasons ? ` (${reasons})` : '') +
      (stats.unsettled > 0 ? ` · ${number.format(stats.unsettled)} unsettled` : '') +
      (stats.requeuedByBroker > 0 ? ` · ${number.format(stats.requeuedByBroker)} requeued by the broker` : '') +
      (stats.dropped > 0 ? ` · ${number.format(stats.dropped)} dropped (${counts(stats.droppedByReason)})` : '') +
      ` · ${stats.seconds.toFixed(2)} s · ${number.format(rate)} msg/s`,
  ];
  if (stats.unhandledErrors > 0) {
    lines.push(
      `missive: ${number.format(stats.unhandledErrors)} errors from work handlers did not await (logged above); ` +
        'await that work, or catch its errors',
    );
  }
  if (stats.deadLettered > 0 && dlqPath) {
    lines.push(`missive: dead letters are in ${dlqPath}; see them with: missive dlq list --dlq ${dlqPath}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** `reason: n, ...`, the largest first. */
function counts(byReason: Readonly<Record<string, number>>): string {
  return Object.entries(byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason}: ${number.format(n)}`)
    .join(', ');
}

/**
 * Writes the summary as JSON for scripts (`--stats-file`).
 * @param main how long the main thread's event loop was busy from the start of the run to its end, start-up and
 *   shutdown included, and what the system counted of its time meanwhile (`stats.inRun` has both without them).
 */
export async function writeStatsFile(
  path: string,
  stats: RunStats,
  main: { busyMs: number; times: ThreadTimes | undefined },
): Promise<void> {
  const {
    received,
    acked,
    nacked,
    deadLettered,
    unsettled,
    unsettledIds,
    requeuedByBroker,
    retries,
    dropped,
    droppedByReason,
    unhandledErrors,
    deadLetteredByReason,
    seconds,
    inRun,
  } = stats;
  // Peak RSS covers the worker threads too (one process); benchmarks read it and the busy time from here.
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  const json = {
    received,
    acked,
    nacked,
    deadLettered,
    unsettled,
    unsettledIds,
    requeuedByBroker,
    retries,
    dropped,
    droppedByReason,
    unhandledErrors,
    deadLetteredByReason,
    seconds,
    peakRssMb,
    mainThreadBusyMs: tenths(main.busyMs),
    mainThreadCpuMs: tenths(main.times?.cpuMs),
    mainThreadWaitMs: tenths(main.times?.waitMs),
    inRun: inRun && {
      seconds: inRun.seconds,
      mainThreadBusyMs: tenths(inRun.mainThreadBusyMs),
      mainThreadCpuMs: tenths(inRun.mainThreadCpuMs),
      mainThreadWaitMs: tenths(inRun.mainThreadWaitMs),
    },
  };
  await writeFile(path, `${JSON.stringify(json, null, 2)}\n`);
}

function tenths(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 10) / 10;
}
