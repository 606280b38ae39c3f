// missive run against the plain loop it replaces (bench/plain-loop.js: split2 'data' events, one thread), both fed
// the three ways users feed them: a pipe (`cat file |`), a redirect (`< file`) and a path (`--input file`, or the
// plain loop's createReadStream). Every contender once per round, rounds alternating, so a noisy machine's drift hits
// them alike. The baseline is the fastest plain feed (by median wall time); `for await` over the same lines
// (bench/bare-loop.js) is printed too, labelled, never used as the baseline.
//
// Usage: node bench/pipeline.js [--lines 4000000] [--cpu-lines 1000000] [--runs 3] [--rss-lines 10000000] [--quick]
//   --quick: 200,000 / 50,000 lines, 1 run, 500,000 lines for RSS; bench/results/pipeline.json is left alone.
// Prints per workload: wall (whole process: start-up, every process of a pipe) and CPU (user + sys of every process
// of the command, `cat` included), medians, as ratios to the baseline: speed = baseline wall / wall, CPU = CPU /
// baseline CPU; the main thread's CPU per message from the run's stats; then the issue's targets beside the figures.
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
    'cpu-lines': { type: 'string' },
    runs: { type: 'string' },
    'rss-lines': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const runs = wholeNumber('runs', values.runs ?? (quick ? 1 : 3), 1);
const rssLines = wholeNumber('rss-lines', values['rss-lines'] ?? (quick ? 500_000 : 10_000_000), 0);
// The CPU-bound handler spends ~4.5 µs a message: a million lines is 4.5 s of plain loop, enough to measure.
const WORKLOADS = {
  trivial: wholeNumber('lines', values.lines ?? (quick ? 200_000 : 4_000_000), 1),
  cpu: wholeNumber('cpu-lines', values['cpu-lines'] ?? (quick ? 50_000 : 1_000_000), 1),
};
const SHAPE = 'short';
const TARGETS = {
  trivialSpeed: 1.6,
  trivialCpu: 1.15,
  cpuSpeed: 1.8,
  cpuTwoOverOne: 1.8,
  mainThreadNs: 50,
  peakRssMb: 200,
};

const node = process.execPath;
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;
const cli = quote(join(root, 'dist/cli/main.js'));
const scratch = join(tmpdir(), `missive-bench-${process.pid}`);
const statsFile = join(scratch, 'stats.json');

/** The command a feed runs `program` with; `path` is how the program names a file it opens itself. */
const FEEDS = {
  pipe: (program, file) => `cat ${quote(file)} | ${program}`,
  redirect: (program, file) => `${program} < ${quote(file)}`,
  path: (program, file, path) => `${program} ${path(quote(file))}`,
};

function contenders(workload) {
  const plain = `${quote(node)} ${quote(join(root, 'bench/plain-loop.js'))} ${workload}`;
  const missive = (threads) =>
    `${quote(node)} ${cli} run ${quote(join(root, `bench/processors/${workload}.js`))} --threads ${threads} ` +
    `--dlq ${quote(join(scratch, 'dlq.duckdb'))} --stats-file ${quote(statsFile)} --quiet --log-level error`;
  const list = [];
  for (const feed of Object.keys(FEEDS)) {
    list.push({ name: `plain loop, ${feed}`, plain: true, command: (f) => FEEDS[feed](plain, f, (q) => q) });
  }
  list.push({
    name: 'for await loop (reference)',
    reference: true,
    command: (f) => `${quote(node)} ${quote(join(root, 'bench/bare-loop.js'))} ${workload} ${quote(f)}`,
  });
  for (const feed of Object.keys(FEEDS)) {
    list.push({
      name: `missive, ${feed}`,
      missive: true,
      feed,
      command: (f) => FEEDS[feed](missive(2), f, (q) => `--input ${q}`),
    });
  }
  if (workload === 'cpu')
    list.push({
      name: 'missive --threads 1, path',
      missive: true,
      one: true,
      command: (f) => FEEDS.path(missive(1), f, (q) => `--input ${q}`),
    });
  return list;
}

/** The input file of `count` short lines, written once and kept in the temp folder between runs. */
async function inputFile(count) {
  const { line } = INPUTS[SHAPE];
  const version = createHash('sha1').update(String(line)).digest('hex').slice(0, 8);
  const path = join(tmpdir(), `missive-bench-${SHAPE}-${version}-${count}.jsonl`);
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

/**
 * Runs a shell command to its end: wall time around it, and the CPU time of every process it started (bash's
 * `times`: user and sys of the shell's children, the pipe's `cat` included).
 */
function timed(command) {
  rmSync(statsFile, { force: true });
  rmSync(join(scratch, 'dlq.duckdb'), { force: true });
  const started = process.hrtime.bigint();
  const child = spawnSync('bash', ['-c', `${command}\ntimes`], {
    env: { ...process.env, BENCH_INPUT: SHAPE },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (child.status !== 0) throw new Error(`${command} exited ${child.status ?? child.signal}:\n${child.stderr}`);
  const lines = child.stdout.trimEnd().split('\n');
  const seconds = (s) => {
    const [, m, sec] = /(\d+)m([\d.]+)s/.exec(s);
    return Number(m) * 60 + Number(sec);
  };
  const [user, sys] = lines.at(-1).trim().split(/\s+/).map(seconds);
  return { wall, cpu: user + sys, output: lines.slice(0, -2).join('\n') };
}

function sample(contender, workload, file, count) {
  const { wall, cpu, output } = timed(contender.command(file));
  let mainNs = null;
  let peakRssMb = null;
  if (contender.missive) {
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    if (stats.received !== count || stats.acked !== count)
      throw new Error(`${contender.name}: ${count} lines, stats ${JSON.stringify(stats)}`);
    mainNs = stats.inRun?.mainThreadCpuMs === undefined ? null : (stats.inRun.mainThreadCpuMs * 1e6) / count;
    peakRssMb = stats.peakRssMb;
  } else {
    const { messages } = JSON.parse(output.split('\n').at(-1));
    if (messages !== count) throw new Error(`${contender.name}: ${messages} messages of ${count}`);
  }
  return { wall, cpu, mainNs, peakRssMb };
}

const x = (n) => `${n.toFixed(2)}x`;
const verdict = (ok) => (ok ? 'met' : 'NOT met');
const med = (list, key) => (list.some((s) => s[key] === null) ? null : median(list.map((s) => s[key])));

mkdirSync(scratch, { recursive: true });
const results = {
  benchmark: 'pipeline',
  runs,
  node: process.version,
  machine: { cores: availableParallelism(), loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))) },
  input: INPUTS[SHAPE].line(0),
  targets: TARGETS,
  workloads: {},
};
for (const [workload, count] of Object.entries(WORKLOADS)) {
  const file = await inputFile(count);
  const list = contenders(workload);
  const samples = new Map(list.map((c) => [c, []]));
  for (let r = 0; r < runs; r++) {
    // The order rotates each round, so none always runs right after the same neighbour (page cache, CPU frequency).
    for (let k = 0; k < list.length; k++) {
      const c = list[(k + r) % list.length];
      const s = sample(c, workload, file, count);
      samples.get(c).push(s);
      console.error(`${workload} round ${r + 1}: ${c.name}: ${s.wall.toFixed(2)} s wall, ${s.cpu.toFixed(2)} s CPU`);
    }
  }
  const rows = list.map((c) => ({
    contender: c,
    wall: med(samples.get(c), 'wall'),
    cpu: med(samples.get(c), 'cpu'),
    mainNs: med(samples.get(c), 'mainNs'),
    peakRssMb: med(samples.get(c), 'peakRssMb'),
  }));
  const baseline = rows.filter((r) => r.contender.plain).sort((a, b) => a.wall - b.wall)[0];
  console.log(
    `\n${workload} handler, ${count.toLocaleString('en-US')} lines like ${INPUTS[SHAPE].line(0)}, medians of ${runs}; baseline: ${baseline.contender.name} (the fastest plain feed)`,
  );
  console.log(
    `  ${'contender'.padEnd(28)}${'wall s'.padStart(8)}${'speed'.padStart(8)}${'CPU s'.padStart(8)}${'CPU'.padStart(8)}${'main CPU ns/msg'.padStart(17)}${'peak RSS'.padStart(10)}`,
  );
  const out = {};
  for (const row of rows) {
    const speed = baseline.wall / row.wall;
    const cpu = row.cpu / baseline.cpu;
    out[row.contender.name] = {
      wallSeconds: row.wall,
      cpuSeconds: row.cpu,
      speed,
      cpuRatio: cpu,
      mainThreadCpuNsPerMessage: row.mainNs,
      peakRssMb: row.peakRssMb,
    };
    console.log(
      `  ${row.contender.name.padEnd(28)}${row.wall.toFixed(2).padStart(8)}${x(speed).padStart(8)}${row.cpu.toFixed(2).padStart(8)}${x(cpu).padStart(8)}` +
        `${(row.mainNs === null ? '-' : row.mainNs.toFixed(0)).padStart(17)}${(row.peakRssMb === null ? '-' : `${row.peakRssMb} MB`).padStart(10)}`,
    );
  }
  const feeds = rows.filter((r) => r.contender.missive && !r.contender.one);
  for (const row of feeds) {
    const { speed, cpuRatio } = out[row.contender.name];
    if (workload === 'trivial') {
      console.log(
        `  target ${row.contender.name}: speed >= ${TARGETS.trivialSpeed}x with CPU <= ${TARGETS.trivialCpu}x: ${verdict(speed >= TARGETS.trivialSpeed && cpuRatio <= TARGETS.trivialCpu)}`,
      );
    } else {
      console.log(
        `  target ${row.contender.name}: speed >= ${TARGETS.cpuSpeed}x: ${verdict(speed >= TARGETS.cpuSpeed)}`,
      );
    }
    console.log(
      `  target ${row.contender.name}: main thread <= ${TARGETS.mainThreadNs} CPU ns/msg: ${verdict(row.mainNs !== null && row.mainNs <= TARGETS.mainThreadNs)}`,
    );
  }
  const one = rows.find((r) => r.contender.one);
  if (one) {
    const two = rows.find((r) => r.contender.name === 'missive, path');
    const twoOverOne = one.wall / two.wall;
    out.twoThreadsOverOne = twoOverOne;
    console.log(
      `  target 2 threads / 1 (path) >= ${TARGETS.cpuTwoOverOne}x: ${x(twoOverOne)} ${verdict(twoOverOne >= TARGETS.cpuTwoOverOne)}`,
    );
  }
  results.workloads[workload] = { lines: count, baseline: baseline.contender.name, rows: out };
}

// Blocks that balance: a CPU-bound handler on a short input must still keep every thread busy, fed any way.
{
  const count = quick ? 20_000 : 100_000;
  const file = await inputFile(count);
  const missive = (threads) =>
    `${quote(node)} ${cli} run ${quote(join(root, 'bench/processors/cpu.js'))} --threads ${threads} ` +
    `--dlq ${quote(join(scratch, 'dlq.duckdb'))} --stats-file ${quote(statsFile)} --quiet --log-level error`;
  const cases = [];
  for (const feed of Object.keys(FEEDS)) {
    for (const threads of [1, 2])
      cases.push({
        name: `${feed}, --threads ${threads}`,
        feed,
        threads,
        missive: true,
        command: (f) => FEEDS[feed](missive(threads), f, (q) => `--input ${q}`),
      });
  }
  const walls = new Map(cases.map((c) => [c, []]));
  for (let r = 0; r < runs; r++) for (const c of cases) walls.get(c).push(sample(c, 'cpu', file, count).wall);
  console.log(
    `\nshort input: cpu handler, ${count.toLocaleString('en-US')} lines, medians of ${runs}: 2 threads / 1 thread (wall)`,
  );
  results.shortInput = { lines: count };
  for (const feed of Object.keys(FEEDS)) {
    const [one, two] = [1, 2].map((t) => median(walls.get(cases.find((c) => c.feed === feed && c.threads === t))));
    results.shortInput[feed] = { oneThreadSeconds: one, twoThreadsSeconds: two, ratio: one / two };
    console.log(`  ${feed.padEnd(9)} ${one.toFixed(2)} s / ${two.toFixed(2)} s = ${x(one / two)}`);
  }
}

if (rssLines > 0) {
  // Resident memory must not grow with the input: the default run over many lines, fed by a pipe.
  const file = await inputFile(rssLines);
  const [pipe] = contenders('trivial').filter((c) => c.name === 'missive, pipe');
  const s = sample(pipe, 'trivial', file, rssLines);
  results.rss = { lines: rssLines, feed: 'pipe', peakRssMb: s.peakRssMb, wallSeconds: s.wall };
  console.log(
    `\npeak RSS over ${rssLines.toLocaleString('en-US')} lines, trivial, pipe: ${s.peakRssMb} MB (target < ${TARGETS.peakRssMb} MB: ${verdict(s.peakRssMb < TARGETS.peakRssMb)})`,
  );
}

rmSync(scratch, { recursive: true, force: true });
if (quick) {
  console.log('\n--quick: bench/results/pipeline.json left as it was');
} else {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/pipeline.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwritten to bench/results/pipeline.json');
}
