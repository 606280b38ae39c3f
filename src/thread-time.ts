import { readFileSync } from 'node:fs';

/** What the system counts of a thread's time, in ms since it started. */
export interface ThreadTimes {
  /** CPU time used, user and system. */
  readonly cpuMs: number;
  /**
   * Time spent runnable but waiting for a core: on a machine with more busy threads than cores, much of the
   * difference between the event loop's busy time and its CPU time. Undefined where the system does not say.
   */
  readonly waitMs: number | undefined;
}

/**
 * The CPU and run-queue wait times of the calling thread (the one that runs a pipeline: the main thread, for the
 * CLI), where the system tells them (Linux); undefined elsewhere. Read from `/proc/thread-self/schedstat`
 * (nanoseconds), else from its `stat` (clock ticks of 10 ms, and no wait time).
 */
export function threadTimes(): ThreadTimes | undefined {
  const task = '/proc/thread-self';
  try {
    const [cpuNs, waitNs] = readFileSync(`${task}/schedstat`, 'utf8').split(' ').map(Number);
    if (Number.isFinite(cpuNs) && Number.isFinite(waitNs)) return { cpuMs: cpuNs! / 1e6, waitMs: waitNs! / 1e6 };
  } catch {
    // A kernel without scheduler statistics: the tick counts below.
  }
  try {
    // Fields 14 and 15 of stat are user and system time in clock ticks (100 per second on Linux). The name in
    // field 2 may hold spaces, so count from its ')'.
    const stat = readFileSync(`${task}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, waitMs: undefined };
  } catch {
    return undefined;
  }
}

/** The calling thread's times between `earlier` and now; undefined when either reading is. */
export function threadTimesSince(earlier: ThreadTimes | undefined): ThreadTimes | undefined {
  const now = threadTimes();
  if (!now || !earlier) return undefined;
  const waitMs = now.waitMs === undefined || earlier.waitMs === undefined ? undefined : now.waitMs - earlier.waitMs;
  return { cpuMs: now.cpuMs - earlier.cpuMs, waitMs };
}
