// missive run against the bare single-thread loop, in one run, over the same JSON lines.
// Usage: node bench/pipeline.js [--lines 2000000] [--runs 3] [--rss-lines 10000000]
// Prints messages/s, ratios and peak RSS; writes bench/results/pipeline.json.
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './median.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: { lines: { type: 'string', default: '2000000' }, runs: { type: 'string', default: '3' }, 'rss-lines': { type: 'string', default: '10000000' } },
});
const lines = Number(values.lines);
const runs = Number(values.runs);
const rssLines = Number(values['rss-lines']);

async function inputFile(count) {
  const path = join(tmpdir(), `missive-bench-${count}.jsonl`);
  if (existsSync(path)) return path;
  const out = createWriteStream(path);
  const types = ['order.placed', 'order.cancelled', 'customer.updated'];
  let buffer = '';
  for (let i = 0; i < count; i++) {
    buffer += `${JSON.stringify({ type: types[i % 3], order: { id: i, totalCents: 1000 + (i % 97) } })}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await new Promise((resolve) => out.once('drain', resolve));
      buffer = '';
    }
  }
  await new Promise((resolve) => out.end(buffer, resolve));
  return path;
}

function bare(workload, input) {
  const out = execFileSync(process.execPath, [join(root, 'bench/bare-loop.js'), join(root, `bench/processors/${workload}.js`), input]);
  const { messages, seconds, peakRssMb } = JSON.parse(out.toString());
  return { rate: messages / seconds, seconds, peakRssMb };
}

function missive(workload, input, threads, matchInWorkers = false) {
  const dir = join(tmpdir(), `missive-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const stats = join(dir, 'stats.json');
  const dlq = join(dir, 'dlq.duckdb');
  rmSync(dlq, { force: true });
  const started = process.hrtime.bigint();
  execFileSync(process.execPath, [
    join(root, 'dist/cli/main.js'), 'run', join(root, `bench/processors/${workload}.js`), '--input', input,
    '--threads', String(threads), '--dlq', dlq, '--stats-file', stats, '--quiet', '--log-level', 'error',
  ], { env: { ...process.env, BENCH_MATCH_IN_WORKERS: matchInWorkers ? '1' : '0' } });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const figures = JSON.parse(readFileSync(stats, 'utf8'));
  if (figures.acked !== figures.received) throw new Error(`not every message was acked: ${JSON.stringify(figures)}`);
  return { rate: figures.received / figures.seconds, seconds: figures.seconds, wall, peakRssMb: figures.peakRssMb };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

const input = await inputFile(lines);
const plans = [
  {
    workload: 'trivial',
    variants: [
      { name: 'missive --threads 2', threads: 2 },
      { name: 'missive --threads 0', threads: 0 },
      { name: 'matchInWorkers, --threads 2', threads: 2, matchInWorkers: true },
    ],
  },
  {
    workload: 'cpu',
    variants: [
      { name: 'missive --threads 1', threads: 1 },
      { name: 'missive --threads 2', threads: 2 },
      { name: 'matchInWorkers, --threads 1', threads: 1, matchInWorkers: true },
      { name: 'matchInWorkers, --threads 2', threads: 2, matchInWorkers: true },
    ],
  },
];
const results = { lines, runs, machine: { cores: (await import('node:os')).availableParallelism(), node: process.version }, workloads: {} };
for (const { workload, variants } of plans) {
  const samples = { bare: [] };
  for (const v of variants) samples[v.name] = [];
  for (let r = 0; r < runs; r++) {
    // Alternate within each round so drift on a noisy machine hits every contender alike.
    samples.bare.push(bare(workload, input));
    for (const v of variants) samples[v.name].push(missive(workload, input, v.threads, v.matchInWorkers));
  }
  const bareRate = median(samples.bare.map((s) => s.rate));
  const rows = {};
  for (const [name, list] of Object.entries(samples)) {
    const rate = median(list.map((s) => s.rate));
    rows[name] = { medianRate: Math.round(rate), ratioToBare: Number((rate / bareRate).toFixed(3)), peakRssMb: Math.max(...list.map((s) => s.peakRssMb)) };
  }
  if (workload === 'cpu') {
    rows.speedup2over1 = Number((rows['missive --threads 2'].medianRate / rows['missive --threads 1'].medianRate).toFixed(3));
    rows.speedup2over1MatchInWorkers = Number(
      (rows['matchInWorkers, --threads 2'].medianRate / rows['matchInWorkers, --threads 1'].medianRate).toFixed(3),
    );
  }
  results.workloads[workload] = rows;
  console.log(`\n${workload} handler, ${fmt(lines)} lines, median of ${runs}:`);
  for (const [name, row] of Object.entries(rows)) {
    if (typeof row !== 'object') continue;
    console.log(`  ${name.padEnd(30)} ${fmt(row.medianRate).padStart(10)} msg/s   ${row.ratioToBare.toFixed(2)}x bare   peak RSS ${row.peakRssMb} MB`);
  }
  if (rows.speedup2over1) {
    console.log(`  --threads 2 / --threads 1: ${rows.speedup2over1.toFixed(2)}x (matchInWorkers: ${rows.speedup2over1MatchInWorkers.toFixed(2)}x)`);
  }
}

if (rssLines > 0) {
  const big = await inputFile(rssLines);
  const run = missive('trivial', big, 2);
  results.rss = { lines: rssLines, peakRssMb: run.peakRssMb, rate: Math.round(run.rate) };
  console.log(`\npeak RSS over ${fmt(rssLines)} lines (trivial, --threads 2): ${run.peakRssMb} MB at ${fmt(run.rate)} msg/s`);
}

mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/pipeline.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten to bench/results/pipeline.json');
