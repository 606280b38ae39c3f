/**
 * Starts timing a contender in this process; the returned function reads wall seconds, CPU seconds (user + system,
 * every thread of the process) and the main thread's busy ms (event-loop-utilization active time) since the start.
 * Busy time is wall time spent in callbacks, so when other processes hold the cores it also counts time the main
 * thread waited for one: it moves with the machine's load, CPU time less so.
 */
export function startMeter() {
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const started = performance.now();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    return { seconds, cpuSeconds: (user + system) / 1e6, busyMs: performance.eventLoopUtilization(loop).active };
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
