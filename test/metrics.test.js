import t from 'tap';
import { join } from 'node:path';
import { fixture, readStats, startCli, waitForOutput } from './helpers/cli.js';

/** Parses Prometheus text format strictly enough to reject anything malformed. */
function parsePrometheus(text) {
  const samples = [];
  const types = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types.set(meta[2], meta[3]);
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(
        line,
      );
    if (!sample) throw new Error(`not Prometheus text: ${line}`);
    const labels = Object.fromEntries(
      [...(sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

const value = (parsed, name, labels = {}) =>
  parsed.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

t.test('/metrics parses as Prometheus text and its counters match the stats file', async (t) => {
  const dir = t.testdir();
  const statsPath = join(dir, 'stats.json');
  const run = startCli(
    [
      'run',
      fixture('mixed-processor.js'),
      '--threads',
      '2',
      '--batch-size',
      '50',
      '--metrics-port',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
      '--log-level',
      'info',
    ],
    { keepStdinOpen: true },
  );
  await waitForOutput(run, /metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
  const url = /metrics at (http:\/\/[^"\s]+)/.exec(run.output().stderr)[1];
  const lines = [];
  for (let i = 0; i < 1000; i++) {
    lines.push(
      i % 10 === 0
        ? JSON.stringify({ type: 'boom', n: i })
        : i % 10 === 1
          ? 'not json'
          : JSON.stringify({ type: 'ok', n: i }),
    );
  }
  run.child.stdin.write(`${lines.join('\n')}\n`);

  let parsed;
  for (let tries = 0; tries < 100; tries++) {
    parsed = parsePrometheus(await (await fetch(url)).text());
    const settled = value(parsed, 'missive_messages_acked_total') + value(parsed, 'missive_dead_letters_total');
    if (settled === 1000) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  run.child.stdin.end();
  const result = await run.done;
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const stats = readStats(statsPath);

  t.equal(parsed.types.get('missive_messages_received_total'), 'counter');
  t.equal(parsed.types.get('missive_handler_duration_seconds'), 'histogram');
  t.equal(value(parsed, 'missive_messages_received_total'), stats.received);
  t.equal(value(parsed, 'missive_messages_acked_total'), stats.acked);
  t.equal(value(parsed, 'missive_messages_nacked_total'), stats.nacked);
  t.equal(value(parsed, 'missive_dead_letters_total'), stats.deadLettered);
  for (const [reason, n] of Object.entries(stats.deadLetteredByReason)) {
    t.equal(value(parsed, 'missive_dead_letters_total', { reason }), n, `dead letters "${reason}"`);
  }
  t.equal(value(parsed, 'missive_in_flight'), 0);
  const utilization = value(parsed, 'missive_worker_utilization');
  t.ok(utilization > 0 && utilization <= 1, `worker utilization is a fraction (${utilization})`);
  // Durations come from the worker threads, merged: one observation per handled message.
  const okCount = value(parsed, 'missive_handler_duration_seconds_count', { handler: 'ok' });
  const boomCount = value(parsed, 'missive_handler_duration_seconds_count', { handler: 'boom' });
  t.equal(okCount, 800);
  t.equal(boomCount, 100);
  t.equal(value(parsed, 'missive_handler_duration_seconds_bucket', { handler: 'ok', le: '+Inf' }), 800);
  const sample = parsed.samples.find((s) => s.name === 'missive_messages_acked_total');
  t.equal(sample.labels.processor, 'mixed', 'labelled with the fingerprint');
  t.ok(sample.labels.version);
  // The scrape target says which process it is; a label for it would start new series at every restart.
  for (const s of parsed.samples) t.notOk('pid' in s.labels || 'host' in s.labels, `${s.name}: no per-process label`);
});
