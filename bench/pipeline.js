// missive run against the bare single-thread loop (bench/bare-loop.js), in one run, on two inputs (short lines and
// the order events) and two workloads (trivial and CPU-bound handler).
// Usage: node bench/pipeline.js [--lines 4000000] [--runs 3] [--rss-lines 10000000] [--quick]
//   --quick: 200,000 lines, 1 run, 500,000 lines for RSS, and bench/results/pipeline.json is left alone.
// Prints, per variant, medians of whole-process wall time (start-up included) and its ratio to the bare loop's, the
// in-run rate (first message read to last settled), the main thread's busy time per message in the run (with its CPU
// time and its wait for a core) and over the whole process, the core count at which the main thread would saturate,
// and peak RSS; then the issue's targets next to the figures. Writes bench/results/pipeline.json.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { wholeNumber } from './flags.js';
import { median } from './median.js';
import { INPUTS } from './processors/inputs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    lines: { type: 'string' },
    runs: { type: 'string' },
    'rss-lines': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const lines = wholeNumber('lines', values.lines ?? (quick ? 200_000 : 4_000_000), 1);
const runs = wholeNumber('runs', values.runs ?? (quick ? 1 : 3), 1);
const rssLines = wholeNumber('rss-lines', values['rss-lines'] ?? (quick ? 500_000 : 10_000_000), 0);

const TARGETS = {
  trivialVsBare: 1.6,
  cpuVsBare: 1.8,
  cpuTwoOverOne: 1.8,
  mainThreadNsPerMessage: 50,
  peakRssMb: 200,
};
const DEFAULT = 'missive default (--threads 2)';
const VARIANTS = [
  { name: DEFAULT, threads: 2 },
  { name: 'missive --threads 1', threads: 1 },
  { name: 'matchInWorkers: false, --threads 2', threads: 2, matchInWorkers: false },
];

/** The input file of `count` lines of one shape, written once and kept in the temp folder between runs. */
async function inputFile(shape, count) {
  const { line } = INPUTS[shape];
  // Named for the generator's source too, so a changed shape never reuses a file of the old one.
  const version = createHash('sha1').update(String(line)).digest('hex').slice(0, 8);
  const path = join(tmpdir(), `missive-bench-${shape}-${version}-${count}.jsonl`);
  if (existsSync(path)) return path;
  // Written aside and renamed, so an interrupted run never leaves a short file that a later run would trust.
  const partial = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(partial);
  let buffer = '';
  for (let i = 0; i < count; i++) {
    buffer += `${line(i)}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await new Promise((resolve) => out.once('drain', resolve));
      buffer = '';
    }
  }
  await new Promise((resolve, reject) => out.on('error', reject).end(buffer, resolve));
  renameSync(partial, path);
  return path;
}

/** Runs a child to completion; returns its stdout and the wall time around it, spawn and start-up included. */
function timed(args, env) {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (child.status !== 0) {
    throw new Error(`${args.slice(0, 3).join(' ')} exited ${child.status ?? child.signal}:\n${child.stderr}`);
  }
  return { stdout: child.stdout, wall };
}

function childEnv(shape, matchInWorkers) {
  const env = { ...process.env, BENCH_INPUT: shape };
  // Unset, the processor passes no option and the run shows the framework's own default.
  delete env.BENCH_MATCH_IN_WORKERS;
  if (matchInWorkers !== undefined) env.BENCH_MATCH_IN_WORKERS = matchInWorkers ? '1' : '0';
  return env;
}

function bare(workload, shape, input, count) {
  const { stdout, wall } = timed([join(root, 'bench/bare-loop.js'), workload, input], childEnv(shape));
  const { messages, seconds, peakRssMb } = JSON.parse(stdout);
  if (messages !== count) throw new Error(`bare loop: ${messages} messages of ${count}`);
  return { wall, rate: messages / seconds, busyNs: null, wholeBusyNs: null, cpuNs: null, waitNs: null, peakRssMb };
}

// Each run's stats file and dead-letter store, removed at the end.
const scratch = join(tmpdir(), `missive-bench-${process.pid}`);

function missive(workload, shape, input, count, { threads, matchInWorkers }) {
  const dir = scratch;
  mkdirSync(dir, { recursive: true });
  const stats = join(dir, 'stats.json');
  const dlq = join(dir, 'dlq.duckdb');
  rmSync(stats, { force: true });
  rmSync(dlq, { force: true });
  const { wall } = timed(
    [
      join(root, 'dist/cli/main.js'), 'run', processorPath(workload), '--input', input, '--threads', String(threads),
      '--dlq', dlq, '--stats-file', stats, '--quiet', '--log-level', 'error',
    ],
    childEnv(shape, matchInWorkers),
  );
  const figures = JSON.parse(readFileSync(stats, 'utf8'));
  if (figures.received !== count || figures.acked !== count) {
    throw new Error(`missive --threads ${threads}: expected ${count} received and acked: ${JSON.stringify(figures)}`);
  }
  // inRun.mainThreadBusyMs is the main thread's event-loop-utilization active time from the first message read to the
  // last settled: its cost per message, which decides how many cores it can feed. mainThreadBusyMs is the same over
  // the whole run, start-up (worker threads, module loading) and shutdown included. Both are wall time spent in
  // callbacks, so on a machine with more busy threads than cores they also count the time the main thread waited
  // for a core while in one: an upper bound of what the main thread costs.
  const { inRun } = figures;
  if (!inRun) throw new Error(`missive --threads ${threads}: no inRun figures in the stats file`);
  const perMessage = (ms) => (typeof ms === 'number' ? (ms * 1e6) / count : null);
  const busyNs = perMessage(inRun.mainThreadBusyMs);
  const wholeBusyNs = perMessage(figures.mainThreadBusyMs);
  // On Linux, the same window's CPU time (what the main thread costs, whatever the load) and the time it was
  // runnable but waited for a core (with more busy threads than cores, much of the gap between busy and CPU time).
  const cpuNs = perMessage(inRun.mainThreadCpuMs);
  const waitNs = perMessage(inRun.mainThreadWaitMs);
  return { wall, rate: figures.received / inRun.seconds, busyNs, wholeBusyNs, cpuNs, waitNs, peakRssMb: figures.peakRssMb };
}

const processorPath = (workload) => join(root, `bench/processors/${workload}.js`);
const ratio = (a, b) => Number((a / b).toFixed(3));

/** Medians of a contender's samples, with the ratios to the bare loop's medians. */
function summarise(list, bareRow) {
  const wall = median(list.map((s) => s.wall));
  const rate = median(list.map((s) => s.rate));
  const busy = list.every((s) => s.busyNs !== null) ? median(list.map((s) => s.busyNs)) : null;
  const wholeBusy = list.every((s) => s.wholeBusyNs !== null) ? median(list.map((s) => s.wholeBusyNs)) : null;
  const cpu = list.every((s) => s.cpuNs !== null) ? median(list.map((s) => s.cpuNs)) : null;
  const wait = list.every((s) => s.waitNs !== null) ? median(list.map((s) => s.waitNs)) : null;
  // The main thread saturates when it is busy all the time: it then settles 1e9 / busyNs messages a second. Each
  // core of handlers takes about the bare loop's rate (a worker splits, parses, matches and handles as the bare loop
  // does, plus its share of the framework, so it is no faster); the main thread can therefore keep
  // (1e9 / busyNs) / bareRate cores busy before it becomes the limit. Using the bare rate errs low.
  const perCoreRate = bareRow ? bareRow.rate : rate;
  return {
    wallSeconds: Number(wall.toFixed(3)),
    wallVsBare: bareRow ? ratio(bareRow.wallSeconds, wall) : 1,
    rate: Math.round(rate),
    rateVsBare: bareRow ? ratio(rate, bareRow.rate) : 1,
    mainThreadNsPerMessage: busy === null ? null : Math.round(busy),
    mainThreadWholeRunNsPerMessage: wholeBusy === null ? null : Math.round(wholeBusy),
    mainThreadCpuNsPerMessage: cpu === null ? null : Math.round(cpu),
    mainThreadWaitNsPerMessage: wait === null ? null : Math.round(wait),
    saturationCores: busy === null ? null : Number((1e9 / busy / perCoreRate).toFixed(1)),
    peakRssMb: Math.max(...list.map((s) => s.peakRssMb)),
    wallSamples: list.map((s) => Number(s.wall.toFixed(3))),
  };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const x = (n) => `${n.toFixed(2)}x`;
const verdict = (ok) => (ok ? 'met' : 'NOT met');

function printRows(title, rows) {
  console.log(`\n${title}`);
  console.log(
    `  ${'variant'.padEnd(36)}${'wall s'.padStart(8)}${'vs bare'.padStart(9)}${'in-run msg/s'.padStart(14)}` +
      `${'vs bare'.padStart(9)}${'main ns/msg'.padStart(13)}${'CPU'.padStart(6)}${'wait'.padStart(6)}${'whole run'.padStart(11)}${'saturates at'.padStart(14)}` +
      `${'peak RSS'.padStart(10)}`,
  );
  for (const [name, row] of Object.entries(rows)) {
    // The bare loop has no main thread apart from its handler.
    const none = name === 'bare loop' ? '-' : 'n/a';
    const busy = row.mainThreadNsPerMessage === null ? none : String(row.mainThreadNsPerMessage);
    const cores = row.saturationCores === null ? none : `${row.saturationCores} cores`;
    const cpu = row.mainThreadCpuNsPerMessage === null ? none : String(row.mainThreadCpuNsPerMessage);
    const whole = row.mainThreadWholeRunNsPerMessage === null ? none : String(row.mainThreadWholeRunNsPerMessage);
    const wait = row.mainThreadWaitNsPerMessage === null ? none : String(row.mainThreadWaitNsPerMessage);
    console.log(
      `  ${name.padEnd(36)}${row.wallSeconds.toFixed(2).padStart(8)}${x(row.wallVsBare).padStart(9)}` +
        `${fmt(row.rate).padStart(14)}${x(row.rateVsBare).padStart(9)}${busy.padStart(13)}${cpu.padStart(6)}${wait.padStart(6)}${whole.padStart(11)}${cores.padStart(14)}` +
        `${`${row.peakRssMb} MB`.padStart(10)}`,
    );
  }
}

/** A figure beside its target: `ok` is null for a figure shown for reference, or one that could not be measured. */
const check = (what, figure, unit, ok) => ({ what, figure, unit, ok: figure === null ? null : ok });

/** The issue's targets that this workload's figures can show. */
function checks(workload, rows) {
  const def = rows[DEFAULT];
  const one = rows['missive --threads 1'];
  const { trivialVsBare, cpuVsBare, cpuTwoOverOne, mainThreadNsPerMessage: maxNs } = TARGETS;
  const list = [];
  if (workload === 'trivial') {
    list.push(check(`target: default >= ${trivialVsBare}x bare (wall)`, def.wallVsBare, 'x', def.wallVsBare >= trivialVsBare));
  } else {
    const twoOverOne = ratio(one.wallSeconds, def.wallSeconds);
    list.push(check(`target: --threads 2 >= ${cpuVsBare}x bare (wall)`, def.wallVsBare, 'x', def.wallVsBare >= cpuVsBare));
    list.push(check(`target: --threads 2 >= ${cpuTwoOverOne}x --threads 1 (wall)`, twoOverOne, 'x', twoOverOne >= cpuTwoOverOne));
    list.push(check('figure: --threads 2 / --threads 1 (in-run rate)', ratio(def.rate, one.rate), 'x', null));
  }
  const busy = def.mainThreadNsPerMessage;
  list.push(check(`target: main thread <= ${maxNs} ns/msg in run (default)`, busy, ' ns', busy <= maxNs));
  const whole = def.mainThreadWholeRunNsPerMessage;
  list.push(check('figure: main thread CPU ns/msg in run (default)', def.mainThreadCpuNsPerMessage, ' ns', null));
  list.push(check('figure: main thread waiting for a core, ns/msg in run (default)', def.mainThreadWaitNsPerMessage, ' ns', null));
  list.push(check('figure: main thread ns/msg, start-up and shutdown included', whole, ' ns', null));
  return list;
}

function printChecks(list) {
  for (const { what, figure, unit, ok } of list) {
    const shown = figure === null ? 'n/a' : unit === 'x' ? x(figure) : `${figure}${unit}`;
    console.log(`  ${what.padEnd(60)} ${shown.padStart(8)}  ${ok === null ? '' : verdict(ok)}`.trimEnd());
  }
}

const inputs = {};
for (const shape of Object.keys(INPUTS)) inputs[shape] = await inputFile(shape, lines);
const results = {
  benchmark: 'pipeline',
  lines,
  runs,
  node: process.version,
  machine: { cores: availableParallelism(), loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))) },
  targets: TARGETS,
  inputs: {},
};
const contenders = [{ name: 'bare loop', bare: true }, ...VARIANTS];
for (const shape of Object.keys(INPUTS)) {
  results.inputs[shape] = {};
  for (const workload of ['trivial', 'cpu']) {
    const samples = Object.fromEntries(contenders.map((c) => [c.name, []]));
    for (let r = 0; r < runs; r++) {
      // Every contender once per round, so drift on a noisy machine hits them alike; the order rotates each round so
      // none always runs right after the same neighbour (page cache, CPU frequency).
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length];
        const file = inputs[shape];
        const sample = c.bare ? bare(workload, shape, file, lines) : missive(workload, shape, file, lines, c);
        samples[c.name].push(sample);
        const figures = `${sample.wall.toFixed(2)} s, ${fmt(sample.rate)} msg/s`;
        console.error(`${shape}/${workload} round ${r + 1}: ${c.name} ${figures}`);
      }
    }
    const bareRow = summarise(samples['bare loop']);
    const rows = { 'bare loop': bareRow };
    for (const v of VARIANTS) rows[v.name] = summarise(samples[v.name], bareRow);
    const list = checks(workload, rows);
    results.inputs[shape][workload] = { rows, targets: list };
    const title = `${shape} lines (${INPUTS[shape].line(0)}), ${workload} handler, ${fmt(lines)} lines, median of ${runs}`;
    printRows(`${title} (wall: whole process, start-up included; in-run, main ns/msg busy, its CPU and its wait for a core: first message read to last settled; whole run: main ns/msg busy, start-up and shutdown included):`, rows);
    printChecks(list);
  }
}

if (rssLines > 0) {
  // Peak RSS at scale, with default options on the issue's input: resident memory must not grow with the input.
  const big = await inputFile('short', rssLines);
  const run = missive('trivial', 'short', big, rssLines, VARIANTS[0]);
  const ok = run.peakRssMb < TARGETS.peakRssMb;
  const wallSeconds = Number(run.wall.toFixed(3));
  const { peakRssMb } = run;
  results.rss = { lines: rssLines, input: 'short', workload: 'trivial', variant: DEFAULT, peakRssMb, wallSeconds, ok };
  console.log(`\npeak RSS over ${fmt(rssLines)} short lines (trivial, ${DEFAULT}): ${peakRssMb} MB, ${wallSeconds} s wall`);
  const short = rssLines < 10_000_000 ? ' (on fewer lines than the target names)' : '';
  console.log(`  target: peak RSS < ${TARGETS.peakRssMb} MB at 10M lines: ${verdict(ok)}${short}`);
}

rmSync(scratch, { recursive: true, force: true });
if (quick) {
  console.log('\n--quick: bench/results/pipeline.json left as it was');
} else {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/pipeline.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwritten to bench/results/pipeline.json');
}
