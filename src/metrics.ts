import { Counter, Gauge, Registry } from 'prom-client';
import type { Fingerprint } from './dlq/dlq.js';
import type { Stats } from './streams/stats.js';
import { DURATION_BUCKETS, type Timings } from './workers/timings.js';

/** A prom-client `Registry` (or any object with its `registerMetric`), to which a run adds its metrics. */
export interface RegistryLike {
  registerMetric(metric: unknown): void;
}

/**
 * A registry whose every metric is labelled with what is running: processor and version. Nothing that names the
 * process (host, pid): the scrape target already says which it is, and such labels would start new series at
 * every restart.
 */
export function fingerprintRegistry(fingerprint: Fingerprint): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({
    processor: fingerprint.name,
    version: fingerprint.version ?? '',
  });
  return registry;
}

/** What the metrics read from a running pipeline. */
export interface MetricSources {
  readonly stats: Stats;
  /** Handler durations merged from every thread. */
  readonly timings: Timings;
  /** Handler names by route index. */
  readonly handlerNames: readonly string[];
  /** How busy the worker threads are, 0 to 1 (0 when handlers run inline). */
  readonly utilization: () => number;
  /** Requests the adapter refused itself, by HTTP status (the HTTP adapter's 401, 408, 413 and 503). */
  readonly rejectedByStatus?: () => Readonly<Record<string, number>> | undefined;
}

/**
 * Prometheus metrics for a run, labelled with the processor's fingerprint. Counters are read from the run's figures
 * when scraped, so they cost nothing per message and always agree with the summary and the stats file.
 */
export function createMetrics(sources: MetricSources, fingerprint: Fingerprint, into?: RegistryLike): Registry {
  // A registry of the embedder's keeps its own default labels.
  const registry = (into as Registry | undefined) ?? fingerprintRegistry(fingerprint);
  const { stats } = sources;
  const counter = (name: string, help: string, read: () => number) => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        this.inc(now - seen);
        seen = now;
      },
    });
  };
  counter('missive_messages_received_total', 'Messages taken from the transport.', () => stats.received);
  counter('missive_messages_acked_total', 'Messages handled and acked.', () => stats.acked);
  counter('missive_messages_nacked_total', 'Messages handed back to the transport for redelivery.', () => stats.nacked);
  counter('missive_retries_total', 'Retries scheduled after a handler failed.', () => stats.retries);
  counter(
    'missive_requeued_by_broker_total',
    'Messages the transport took back by itself before their settle reached it (a RabbitMQ channel lost); delivered again.',
    () => stats.requeuedByBroker,
  );
  counter(
    'missive_unhandled_errors_total',
    'Errors from work handlers started and did not await, caught and logged instead of ending the run.',
    () => stats.unhandledErrors,
  );
  const labelled = (name: string, help: string, label: string, read: () => Readonly<Record<string, number>>) => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        for (const [value, now] of Object.entries(read())) {
          this.labels({ [label]: value }).inc(now - (seen.get(value) ?? 0));
          seen.set(value, now);
        }
      },
    });
  };
  labelled(
    'missive_dead_letters_total',
    'Messages stored as dead letters, by reason.',
    'reason',
    () => stats.snapshot().deadLetteredByReason,
  );
  labelled(
    'missive_http_rejections_total',
    'Requests the HTTP adapter refused itself (401, 408, 413, 503), by status.',
    'status',
    () => sources.rejectedByStatus?.() ?? {},
  );
  new Gauge({
    name: 'missive_in_flight',
    help: 'Messages read and not yet settled (retries waiting included).',
    registers: [registry],
    collect() {
      this.set(stats.inFlight);
    },
  });
  new Gauge({
    name: 'missive_worker_utilization',
    help: 'How busy the worker threads have been, 0 to 1.',
    registers: [registry],
    collect() {
      this.set(sources.utilization());
    },
  });
  registry.registerMetric(durationHistogram(sources) as never);
  return registry;
}

const DURATION = 'missive_handler_duration_seconds';

/**
 * The handler duration histogram. Its buckets are filled in the worker threads and merged here, which prom-client's
 * Histogram (one `observe` per value) cannot take, so this metric hands the registry its values directly.
 */
function durationHistogram(sources: MetricSources) {
  const help = 'How long handlers take, measured in the thread that runs them.';
  return {
    name: DURATION,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const timing of sources.timings.list()) {
        const handler = sources.handlerNames[timing.route] ?? `route#${timing.route}`;
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += timing.buckets[i]!;
          values.push({ metricName: `${DURATION}_bucket`, labels: { handler, le }, value: cumulative });
        });
        values.push({ metricName: `${DURATION}_bucket`, labels: { handler, le: '+Inf' }, value: timing.count });
        values.push({ metricName: `${DURATION}_sum`, labels: { handler }, value: timing.sum });
        values.push({ metricName: `${DURATION}_count`, labels: { handler }, value: timing.count });
      }
      return { name: DURATION, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}
