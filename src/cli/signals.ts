/**
 * The signals that end a `missive run`. The first stop signal drains: reading stops and what is in flight
 * finishes (up to --drain-timeout). A terminal that closes sends SIGHUP, so it drains too. A later stop signal,
 * or SIGQUIT (Ctrl-\), stops at once. Either way the run ends through the same report (see `RunEnd`). SIGKILL
 * cannot be caught: nothing is reported.
 */
export const DRAIN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Signals that stop a run at once, naming what it leaves unsettled. */
export const QUICK_SIGNALS: readonly NodeJS.Signals[] = ['SIGQUIT'];

/**
 * A repeat of a stop signal within this many ms is the same request: Ctrl-C signals the whole process group, and
 * npm or npx in it may pass the signal on once more.
 */
export const SAME_SIGNAL_MS = 300;

/** What a run does on a signal. */
export interface SignalActions {
  /** The first stop signal: drain. */
  drain(signal: NodeJS.Signals): void;
  /** A later stop signal, or a quick one: stop at once; `why` names it ("a second SIGINT", "SIGQUIT"). */
  stopNow(why: string): void;
}

/** Listens for the signals above for the rest of the process: one that comes while the run reports is ignored. */
export function onStopSignals(actions: SignalActions): void {
  let firstAt: number | undefined;
  let stoppedNow = false;
  const now = (why: string) => {
    if (stoppedNow) return;
    stoppedNow = true;
    actions.stopNow(why);
  };
  const onDrainSignal = (signal: NodeJS.Signals) => {
    const at = performance.now();
    if (firstAt === undefined) {
      firstAt = at;
      actions.drain(signal);
    } else if (at - firstAt >= SAME_SIGNAL_MS) {
      now(`a second ${signal}`);
    }
  };
  const onQuickSignal = (signal: NodeJS.Signals) => now(signal);
  for (const signal of DRAIN_SIGNALS) process.on(signal, onDrainSignal);
  for (const signal of QUICK_SIGNALS) process.on(signal, onQuickSignal);
}
