// Scaling out on a broker: 1, 2 and 4 `missive run` processes sharing one Redis consumer group (adapter
// redis-streams) and one RabbitMQ queue (adapter amqp), CPU-bound handler. Each round preloads a fresh stream or
// queue with N messages, each with a unique id, starts the processes, and stops them (SIGTERM) once every id was
// handled. Throughput counts from the first process's spawn (start-up included) to the last id handled.
// Usage: node bench/scale-out.js [--messages 500000] [--runs 3] [--processes 1,2,4] [--threads 1]
//        [--transports redis-streams,amqp] [--redis-url URL] [--amqp-url URL]   (after `npm run build`)
// Prints a table (median throughput, lost and duplicated ids over all runs); writes bench/results/scale-out.json.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { wholeNumber } from './flags.js';
import { median } from './median.js';
import { INPUTS } from './processors/inputs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const POLL_MS = 20;
// A run that handles no new id for this long is stopped and reported with what it lost.
const STALL_MS = 30_000;
// A process still running this long after SIGTERM is killed, and counted as a failed exit.
const EXIT_MS = 60_000;
const FILL_BATCH = 5000;
const { line } = INPUTS.short;

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    processes: { type: 'string', default: '1,2,4' },
    // One worker thread per process, so what scales is the number of processes alone. On 2 cores two processes
    // (a main thread and a worker each) already fill the machine; four show what oversubscribing it costs.
    threads: { type: 'string', default: '1' },
    transports: { type: 'string', default: 'redis-streams,amqp' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'amqp-url': { type: 'string', default: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
  },
});
const messages = wholeNumber('messages', values.messages);
const runs = wholeNumber('runs', values.runs);
const threads = wholeNumber('threads', values.threads);
const counts = values.processes.split(',').map((n) => wholeNumber('processes', n));

/** Each transport: fill a fresh source, the flags that point `missive run` at it, what it still holds, cleanup. */
const TRANSPORTS = {
  'redis-streams': {
    async fill() {
      const redis = new Redis(values['redis-url']);
      const stream = `missive-bench:scale-out:${randomUUID()}`;
      try {
        for (let start = 0; start < messages; start += FILL_BATCH) {
          const pipeline = redis.pipeline();
          const end = Math.min(messages, start + FILL_BATCH);
          for (let i = start; i < end; i++) pipeline.xadd(stream, '*', 'body', line(i));
          await pipeline.exec();
        }
      } finally {
        redis.disconnect();
      }
      return stream;
    },
    flags: (stream, i) => [
      '--adapter',
      'redis-streams',
      '--redis-url',
      values['redis-url'],
      '--stream',
      stream,
      '--group',
      'bench',
      '--consumer',
      `bench-${i}`,
    ],
    /** Entries delivered and never acked. */
    async left(stream) {
      const redis = new Redis(values['redis-url']);
      try {
        return Number((await redis.xpending(stream, 'bench'))[0]);
      } finally {
        await redis.del(stream);
        redis.disconnect();
      }
    },
  },
  amqp: {
    async fill() {
      const connection = await amqp.connect(values['amqp-url']);
      const queue = `missive-bench-scale-out-${randomUUID()}`;
      try {
        const channel = await connection.createConfirmChannel();
        // Declared as the adapter declares it, so its own declaration agrees.
        await channel.assertQueue(queue, { durable: true });
        for (let start = 0; start < messages; start += FILL_BATCH) {
          for (let i = start; i < Math.min(messages, start + FILL_BATCH); i++) {
            channel.sendToQueue(queue, Buffer.from(line(i)), { messageId: `m-${i}` });
          }
          await channel.waitForConfirms();
        }
      } finally {
        await connection.close();
      }
      return queue;
    },
    flags: (queue) => ['--adapter', 'amqp', '--amqp-url', values['amqp-url'], '--queue', queue],
    /** Messages still in the queue, ready or unacked. */
    async left(queue) {
      const connection = await amqp.connect(values['amqp-url']);
      try {
        const channel = await connection.createChannel();
        const { messageCount } = await channel.checkQueue(queue);
        await channel.deleteQueue(queue);
        return messageCount;
      } finally {
        await connection.close();
      }
    },
  },
};
const transports = values.transports.split(',');
for (const t of transports) {
  if (!TRANSPORTS[t]) throw new Error(`--transports: no "${t}" (have: ${Object.keys(TRANSPORTS).join(', ')})`);
}

/**
 * How often each id was handled, read from the processes' record files as they grow. Only new bytes are read, and
 * only up to the last newline, so polling costs little and never sees half an id.
 */
class Tally {
  // The short input's ids run from 1 to N; saturating at 255 is plenty to tell once from more than once.
  counts = new Uint8Array(messages + 1);
  handled = 0;
  unknown = 0;
  #offsets = new Map();

  constructor(dir) {
    this.dir = dir;
  }

  read() {
    for (const path of this.#files()) this.#readNew(path);
    return this;
  }

  /** When the last id was written: the newest record file's modification time, in ms since the epoch. */
  lastWrittenMs() {
    return Math.max(0, ...this.#files().map((path) => statSync(path).mtimeMs));
  }

  #files() {
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.ids'))
      .map((name) => join(this.dir, name));
  }

  get duplicated() {
    let n = 0;
    for (let id = 1; id <= messages; id++) if (this.counts[id] > 1) n++;
    return n;
  }

  #readNew(path) {
    const offset = this.#offsets.get(path) ?? 0;
    const size = statSync(path).size;
    if (size <= offset) return;
    const bytes = Buffer.alloc(size - offset);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, bytes, 0, bytes.length, offset);
    } finally {
      closeSync(fd);
    }
    const end = bytes.lastIndexOf(10) + 1;
    this.#offsets.set(path, offset + end);
    for (const text of bytes.toString('latin1', 0, end).split('\n')) {
      if (text === '') continue;
      const id = Number(text);
      if (!(id >= 1 && id <= messages)) {
        this.unknown++;
      } else if (this.counts[id] === 0) {
        this.counts[id] = 1;
        this.handled++;
      } else if (this.counts[id] < 255) {
        this.counts[id]++;
      }
    }
  }
}

function startProcess(dir, transport, source, i) {
  const env = { ...process.env, BENCH_INPUT: 'short', BENCH_RECORD: join(dir, `p${i}`) };
  delete env.BENCH_MATCH_IN_WORKERS;
  const child = spawn(
    process.execPath,
    [
      join(root, 'dist/cli/main.js'),
      'run',
      join(root, 'bench/processors/cpu-recorded.js'),
      ...TRANSPORTS[transport].flags(source, i),
      '--threads',
      String(threads),
      '--dlq',
      join(dir, `p${i}.duckdb`),
      '--stats-file',
      join(dir, `p${i}.stats.json`),
      '--quiet',
      '--log-level',
      'error',
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text) => {
    if (stderr.length < 10_000) stderr += text;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  const stop = () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_MS);
    return exited.finally(() => clearTimeout(timer));
  };
  return { exited, stop };
}

/** A process's final figures; one that died before writing them settled nothing we can count. */
function statsOf(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { acked: 0, deadLettered: 0 };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function once(transport, processes) {
  const source = await TRANSPORTS[transport].fill();
  // Let the broker finish with the burst of publishes before the timed part starts.
  await sleep(1000);
  const dir = join(tmpdir(), `missive-scale-out-${process.pid}-${transport}-${processes}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tally = new Tally(dir);
  const started = Date.now();
  const running = Array.from({ length: processes }, (_, i) => startProcess(dir, transport, source, i));
  let exitedEarly;
  for (const r of running) r.exited.then((e) => (exitedEarly ??= e));
  let progressAt = Date.now();
  let firstSeen;
  let seen = 0;
  while (tally.read().handled < messages && !exitedEarly && Date.now() - progressAt < STALL_MS) {
    if (tally.handled > seen) [seen, progressAt] = [tally.handled, Date.now()];
    if (seen > 0) firstSeen ??= Date.now();
    await sleep(POLL_MS);
  }
  const complete = tally.handled === messages;
  const end = complete ? tally.lastWrittenMs() : Date.now();
  const seconds = (end - started) / 1000;
  // Start-up apart, to within a poll: several processes starting at once on few cores take longer to start than
  // one, which the figure from the first spawn includes and this one does not.
  const handlingSeconds = (end - (firstSeen ?? started)) / 1000;
  const exits = await Promise.all(running.map((r) => r.stop()));
  // What each process flushed at shutdown counts too: a message handled twice shows up here.
  tally.read();
  const settled = running.map((_, i) => statsOf(join(dir, `p${i}.stats.json`)));
  const left = await TRANSPORTS[transport].left(source);
  rmSync(dir, { recursive: true, force: true });
  const failures = exits.filter((e) => e.code !== 0);
  for (const e of failures) console.error(`a process exited ${e.code ?? e.signal}:\n${e.stderr}`);
  return {
    rate: complete ? messages / seconds : null,
    handlingRate: complete ? messages / handlingSeconds : null,
    seconds,
    lost: messages - tally.handled,
    duplicated: tally.duplicated,
    unknownIds: tally.unknown,
    leftOnBroker: left,
    acked: settled.reduce((n, s) => n + s.acked, 0),
    deadLettered: settled.reduce((n, s) => n + s.deadLettered, 0),
    failedExits: failures.length,
  };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const samples = Object.fromEntries(transports.flatMap((t) => counts.map((p) => [`${t}/${p}`, []])));
for (let r = 0; r < runs; r++) {
  // Every configuration once per round, so the machine's drift (and the brokers', which share its cores) hits all.
  for (const transport of transports) {
    for (const processes of counts) {
      const sample = await once(transport, processes);
      samples[`${transport}/${processes}`].push(sample);
      const rate = sample.rate === null ? 'incomplete' : `${fmt(sample.rate)} msg/s`;
      console.error(
        `round ${r + 1}: ${transport}, ${processes} process(es): ${rate}, ${sample.seconds.toFixed(2)} s, ` +
          `lost ${sample.lost}, duplicated ${sample.duplicated}, left on broker ${sample.leftOnBroker}`,
      );
    }
  }
}

const rows = [];
for (const transport of transports) {
  let single;
  for (const processes of counts) {
    const list = samples[`${transport}/${processes}`];
    const rates = list.map((s) => s.rate).filter((rate) => rate !== null);
    const rate = rates.length === list.length ? median(rates) : null;
    const handling = rate === null ? null : median(list.map((s) => s.handlingRate));
    single ??= rate;
    const sum = (key) => list.reduce((n, s) => n + s[key], 0);
    rows.push({
      transport,
      processes,
      msgsPerSecond: rate && Math.round(rate),
      msgsPerSecondOnceHandling: handling && Math.round(handling),
      vsOneProcess: rate && single ? Number((rate / single).toFixed(2)) : null,
      lost: sum('lost'),
      duplicated: sum('duplicated'),
      leftOnBroker: sum('leftOnBroker'),
      deadLettered: sum('deadLettered'),
      failedExits: sum('failedExits'),
      unknownIds: sum('unknownIds'),
      samples: list.map((s) => (s.rate === null ? null : Math.round(s.rate))),
    });
  }
}

console.log(
  `\nScale-out, CPU-bound handler, ${fmt(messages)} messages a run, --threads ${threads} per process, ` +
    `median of ${runs}. msg/s: first spawn to last id handled; once handling: first id seen to last; ` +
    `"vs 1": against the first process count listed; lost, duplicated: totals over the runs`,
);
console.table(
  Object.fromEntries(
    rows.map((r) => [
      `${r.transport}, ${r.processes} process${r.processes > 1 ? 'es' : ''}`,
      {
        'msg/s': r.msgsPerSecond ?? 'incomplete',
        'vs 1': r.vsOneProcess ?? '-',
        'msg/s once handling': r.msgsPerSecondOnceHandling ?? '-',
        lost: r.lost,
        duplicated: r.duplicated,
        'left on broker': r.leftOnBroker,
        'dead letters': r.deadLettered,
        'failed exits': r.failedExits,
      },
    ]),
  ),
);

for (const r of rows) {
  if (r.unknownIds > 0) console.log(`${r.transport}, ${r.processes}: ${r.unknownIds} recorded ids are not this run's`);
}

// The brokers run on the same machine and compete for its cores: the load is recorded with the figures.
const machine = { cores: availableParallelism(), loadAverage: loadavg().map((l) => Number(l.toFixed(2))) };
const report = {
  benchmark: 'scale-out',
  messages,
  runs,
  threadsPerProcess: threads,
  node: process.version,
  machine,
  rows,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/scale-out.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log('written to bench/results/scale-out.json');
