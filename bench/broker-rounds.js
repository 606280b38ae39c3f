// The rounds of the broker benches (bench/amqp.js, bench/redis-streams.js, and bench/delivery-path.js, the same path
// without a broker): every case once per round, in turn, so a drift in the machine's speed (RabbitMQ or Redis share
// its two cores) touches them all alike; medians over the rounds.
import { median } from './median.js';
import { perMessage } from './meter.js';

/**
 * Runs `warmup` untimed rounds, then `runs` timed ones, and sums them up per case.
 *
 * The untimed rounds are there because a consumer runs for hours: a process's first 100k messages also pay for V8
 * compiling its code on background threads (some 250 functions for the pipeline), which compete with the broker for
 * the cores. Their rates are kept as `coldSamples`, so the cost of a cold start stays in view.
 *
 * @param cases `{ key, name, run(options) }`, `run` resolving with `{ read, seconds, cpuSeconds, busyMs, scavenges,
 *   scavengeMs }` (see
 *   meter.js) and anything else its `note` wants to print.
 * @param settings `{ messages, runs, warmup, options, baseline, optional(key), note(result) }`: `baseline` is the
 *   key of the case without the framework (default `raw`); `optional` names cases whose failure is recorded in the
 *   results instead of ending the bench; `note` adds text to a timed run's line.
 * @returns `{ results, ratio(a, b), paired(a, b), onTop(key) }`: one result per case; the ratio of two cases' median
 *   rates; the median of their rates' ratios round by round (steadier when the broker's speed drifts); what a
 *   case adds per message to the baseline's main-thread and CPU time ("on top of the client library").
 */
export async function brokerRounds(
  cases,
  { messages, runs, warmup, options, baseline = 'raw', optional = () => false, note = () => '' },
) {
  const per = Object.fromEntries(
    cases.map((c) => [
      c.key,
      { rates: [], cpu: [], busy: [], scavenges: [], scavengeMs: [], cold: [], error: undefined },
    ]),
  );
  for (let round = 0; round < warmup + runs; round++) {
    const cold = round < warmup;
    const label = cold ? `warm-up ${round + 1}` : `run ${round - warmup + 1}`;
    for (const c of cases) {
      const figures = per[c.key];
      if (figures.error) continue;
      let result;
      try {
        result = await c.run(options);
        if (result.read !== messages) throw new Error(`${c.name}: read ${result.read} of ${messages}`);
      } catch (error) {
        if (!optional(c.key)) throw error;
        figures.error = String(error?.message ?? error);
        console.error(`${c.key} failed: ${figures.error}`);
        continue;
      }
      const rate = messages / result.seconds;
      const { cpuMicros, busyNanos } = perMessage(result, messages);
      const line = `${label}: ${c.key} ${Math.round(rate)} msgs/s, ${cpuMicros.toFixed(2)} CPU µs/msg`;
      if (cold) {
        figures.cold.push(Math.round(rate));
        console.error(`${line} (not counted)`);
        continue;
      }
      figures.rates.push(rate);
      figures.cpu.push(cpuMicros);
      figures.busy.push(busyNanos);
      figures.scavenges.push(result.scavenges);
      figures.scavengeMs.push(result.scavengeMs);
      const gc = `${result.scavenges} scavenges, ${result.scavengeMs.toFixed(1)} ms`;
      console.error(`${line}, ${Math.round(busyNanos)} main-thread ns/msg, ${gc}${note(result)}`);
    }
  }
  const results = cases.map((c) => {
    const { rates, cpu, busy, scavenges, scavengeMs, cold, error } = per[c.key];
    const measured = rates.length > 0;
    return {
      name: c.name,
      msgsPerSecond: measured ? Math.round(median(rates)) : null,
      samples: rates.map(Math.round),
      coldSamples: cold,
      cpuMicrosPerMessage: measured ? Number(median(cpu).toFixed(3)) : null,
      mainThreadNsPerMessage: measured ? Math.round(median(busy)) : null,
      mainThreadNsSamples: busy.map(Math.round),
      scavenges: measured ? median(scavenges) : null,
      scavengeMs: measured ? Number(median(scavengeMs).toFixed(1)) : null,
      ...(error ? { error } : {}),
    };
  });
  const byKey = Object.fromEntries(cases.map((c, i) => [c.key, results[i]]));
  const ratio = (a, b) =>
    byKey[a].msgsPerSecond && byKey[b].msgsPerSecond
      ? Number((byKey[a].msgsPerSecond / byKey[b].msgsPerSecond).toFixed(2))
      : null;
  const paired = (a, b) => {
    const [x, y] = [per[a].rates, per[b].rates];
    if (x.length === 0 || x.length !== y.length) return null;
    return Number(median(x.map((rate, i) => rate / y[i])).toFixed(2));
  };
  const base = byKey[baseline];
  const onTop = (key) => ({
    mainThreadNsPerMessage: byKey[key].mainThreadNsPerMessage - base.mainThreadNsPerMessage,
    cpuMicrosPerMessage: Number((byKey[key].cpuMicrosPerMessage - base.cpuMicrosPerMessage).toFixed(3)),
  });
  return { results, ratio, paired, onTop };
}
