import { PerformanceObserver, constants } from 'node:perf_hooks';

/**
 * Starts timing a contender in this process; the returned function reads wall seconds, CPU seconds (user + system,
 * every thread of the process), the main thread's busy ms (event-loop-utilization active time), and V8's
 * young-generation collections (scavenges) and their pause ms, since the start.
 * Busy time is wall time spent in callbacks, so when other processes hold the cores it also counts time the main
 * thread waited for one: it moves with the machine's load, CPU time less so. Scavenges come with allocation and
 * take longer the more objects are alive (in flight) when they run.
 */
export function startMeter() {
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  let scavenges = 0;
  let scavengeMs = 0;
  const count = (entries) => {
    for (const entry of entries) {
      if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      scavenges++;
      scavengeMs += entry.duration;
    }
  };
  const observer = new PerformanceObserver((list) => count(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const started = performance.now();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const busyMs = performance.eventLoopUtilization(loop).active;
    count(observer.takeRecords());
    observer.disconnect();
    return { seconds, cpuSeconds: (user + system) / 1e6, busyMs, scavenges, scavengeMs };
  };
}

/**
 * Resolves once `count` messages went through `adapter.ack`: the finish line of a pipeline run, taken where the
 * pipeline settles, without a polling timer that would add to the main thread's busy time.
 */
export function whenAcked(adapter, count) {
  const ack = adapter.ack.bind(adapter);
  let acked = 0;
  return new Promise((resolve) => {
    adapter.ack = (deliveries, kind) => {
      const result = ack(deliveries, kind);
      acked += deliveries.length;
      if (acked >= count) resolve();
      return result;
    };
  });
}

/** Per-message figures of one run: CPU µs and main-thread busy ns. */
export function perMessage({ cpuSeconds, busyMs }, messages) {
  return { cpuMicros: (cpuSeconds * 1e6) / messages, busyNanos: (busyMs * 1e6) / messages };
}
