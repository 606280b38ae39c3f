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
  let acked = 0;
  let inside = false;
  return new Promise((resolve) => {
    // The pipeline acks through ackConfirmed where the adapter has it (its acks can be lost with the connection);
    // one calls the other in some adapters, so only the outer call counts.
    for (const name of ['ack', 'ackConfirmed']) {
      if (typeof adapter[name] !== 'function') continue;
      const settle = adapter[name].bind(adapter);
      adapter[name] = (deliveries, ...rest) => {
        if (inside) return settle(deliveries, ...rest);
        inside = true;
        try {
          return settle(deliveries, ...rest);
        } finally {
          inside = false;
          acked += deliveries.length;
          if (acked >= count) resolve();
        }
      };
    }
  });
}

/** Per-message figures of one run: CPU µs and main-thread busy ns. */
export function perMessage({ cpuSeconds, busyMs }, messages) {
  return { cpuMicros: (cpuSeconds * 1e6) / messages, busyNanos: (busyMs * 1e6) / messages };
}
