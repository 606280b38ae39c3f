// Consuming a Redis stream: the bare ioredis loop, the RedisStreamsAdapter, BullMQ and the full pipeline, in one run,
// each on a fresh stream (or queue) filled beforehand so only consumption is timed.
// Run: node bench/redis-streams.js [--entries 200000] [--runs 3] [--warmup 1] [--redis-url redis://127.0.0.1:6379]
// The first --warmup rounds are not timed (see broker-rounds.js); their rates are kept as `coldSamples`.
// (after `npx tsc -p .`). Prints msgs/s, this process's CPU time per message and the main thread's busy time per
// message (medians of the runs), what the adapter and the pipeline add to the raw loop's figures ("on top of the
// client library"), and ratios; writes bench/results/redis-streams.json.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { RedisStreamsAdapter } from '../dist/adapters/redis-streams.js';
import { MemoryDlq, Processor } from '../dist/index.js';
import { startPipeline } from '../dist/streams/pipeline.js';
import { brokerRounds } from './broker-rounds.js';
import { wholeNumber } from './flags.js';
import { startMeter, whenAcked } from './meter.js';

const COUNT = 500;
const FILL_BATCH = 1000;
const BULLMQ_CONCURRENCY = 50;

/** A body shaped like a real event: about 80 bytes of JSON. */
const bodyOf = (i) => `{"type":"order.placed","order":{"id":${i},"totalCents":${1000 + (i % 97)}}}`;

async function fill(redis, stream, entries) {
  for (let start = 0; start < entries; start += FILL_BATCH) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(entries, start + FILL_BATCH); i++) pipeline.xadd(stream, '*', 'body', bodyOf(i));
    await pipeline.exec();
  }
}

async function pendingOf(redis, stream, group) {
  return Number((await redis.xpending(stream, group))[0]);
}

/** The baseline: XREADGROUP COUNT 500, each batch's XACK pipelined with the next read; no framework. */
async function raw({ url, entries }) {
  const redis = new Redis(url);
  const stream = `missive-bench:raw:${randomUUID()}`;
  try {
    await fill(redis, stream, entries);
    await redis.xgroup('CREATE', stream, 'bench', '0');
    const meter = startMeter();
    let read = 0;
    let acks = [];
    while (read < entries) {
      const pipeline = redis.pipeline();
      if (acks.length > 0) pipeline.xack(stream, 'bench', ...acks);
      pipeline.xreadgroupBuffer('GROUP', 'bench', 'c', 'COUNT', COUNT, 'STREAMS', stream, '>');
      const results = await pipeline.exec();
      const [error, reply] = results[results.length - 1];
      if (error) throw error;
      const batch = reply?.[0]?.[1] ?? [];
      acks = batch.map(([id]) => id.toString('latin1'));
      read += batch.length;
    }
    await redis.xack(stream, 'bench', ...acks);
    const measured = meter();
    const pending = await pendingOf(redis, stream, 'bench');
    if (pending !== 0) throw new Error(`raw: ${pending} entries left pending`);
    return { read, ...measured };
  } finally {
    await redis.del(stream);
    redis.disconnect();
  }
}

/** The adapter alone: open, read its batches, ack each one, close (which sends the last acks). */
async function adapter({ url, entries }) {
  const redis = new Redis(url);
  const stream = `missive-bench:adapter:${randomUUID()}`;
  try {
    await fill(redis, stream, entries);
    const streams = new RedisStreamsAdapter({ url, stream, group: 'bench', consumer: 'c' });
    const meter = startMeter();
    const readable = await streams.open({ maxInFlight: COUNT });
    let read = 0;
    for await (const batch of readable) {
      read += batch.length;
      streams.ack(batch, 'handled');
      if (read >= entries) break;
    }
    await streams.close();
    const measured = meter();
    const pending = await pendingOf(redis, stream, 'bench');
    if (pending !== 0) throw new Error(`adapter: ${pending} entries left pending`);
    return { read, ...measured };
  } finally {
    await redis.del(stream);
    redis.disconnect();
  }
}

/** The whole run: adapter → match → dispatch → settle, a no-op handler, handlers in this thread. */
async function pipeline({ url, entries }) {
  const redis = new Redis(url);
  const stream = `missive-bench:pipeline:${randomUUID()}`;
  try {
    await fill(redis, stream, entries);
    const processor = new Processor(undefined, { name: 'bench-noop' });
    processor.handleFor(
      () => true,
      () => {},
    );
    const streams = new RedisStreamsAdapter({ url, stream, group: 'bench', consumer: 'c' });
    const acked = whenAcked(streams, entries);
    const meter = startMeter();
    const run = await startPipeline({ adapter: streams, processor, dlq: new MemoryDlq(), threads: 0 });
    await Promise.race([acked, run.done]);
    const stats = await run.stop();
    const measured = meter();
    if (stats.acked !== entries) throw new Error(`pipeline: ${stats.acked} acked of ${entries}`);
    const pending = await pendingOf(redis, stream, 'bench');
    if (pending !== 0) throw new Error(`pipeline: ${pending} entries left pending`);
    return { read: stats.received, ...measured };
  } finally {
    await redis.del(stream);
    redis.disconnect();
  }
}

/** BullMQ: N no-op jobs added with addBulk beforehand, processed by one Worker at concurrency 50. */
async function bullmq({ url, entries }) {
  const { Queue, Worker } = await import('bullmq');
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port || 6379), maxRetriesPerRequest: null };
  const name = `missive-bench-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  try {
    for (let start = 0; start < entries; start += FILL_BATCH) {
      const jobs = [];
      for (let i = start; i < Math.min(entries, start + FILL_BATCH); i++) {
        jobs.push({ name: 'e', data: bodyOf(i), opts: { removeOnComplete: true } });
      }
      await queue.addBulk(jobs);
    }
    let done = 0;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    const meter = startMeter();
    const worker = new Worker(
      name,
      async () => {
        if (++done === entries) finish();
      },
      { connection, concurrency: BULLMQ_CONCURRENCY },
    );
    await finished;
    // The last job is marked completed only after its processor returns.
    while ((await queue.getJobCounts('wait', 'active')).active > 0) await new Promise((r) => setTimeout(r, 1));
    const measured = meter();
    await worker.close();
    return { read: done, ...measured };
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/** Runs every case `runs` times, alternating, and writes bench/results/redis-streams.json. */
export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      entries: { type: 'string', default: '200000' },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    },
  });
  const entries = wholeNumber('entries', values.entries, COUNT);
  const runs = wholeNumber('runs', values.runs);
  const warmup = wholeNumber('warmup', values.warmup, 0);
  const options = { url: values['redis-url'], entries };
  const cases = [
    { key: 'raw', name: `raw ioredis: XREADGROUP COUNT ${COUNT} + XACK pipelined`, run: raw },
    { key: 'adapter', name: 'RedisStreamsAdapter: read batches, ack each', run: adapter },
    { key: 'bullmq', name: `BullMQ Worker, concurrency ${BULLMQ_CONCURRENCY}, no-op jobs`, run: bullmq },
    { key: 'pipeline', name: 'startPipeline, no-op handler, threads: 0', run: pipeline },
  ];
  // BullMQ is optional here: a failure is reported in the results rather than ending the comparison.
  const optional = (key) => key === 'bullmq';
  const { results, ratio, paired, onTop } = await brokerRounds(cases, {
    messages: entries,
    runs,
    warmup,
    options,
    optional,
  });
  const onTopOfClientLibrary = { adapter: onTop('adapter'), pipeline: onTop('pipeline') };
  const ratios = {
    adapterToRaw: ratio('adapter', 'raw'),
    adapterToBullmq: ratio('adapter', 'bullmq'),
    pipelineToRaw: ratio('pipeline', 'raw'),
  };
  const pairedRatios = { adapterToRaw: paired('adapter', 'raw'), pipelineToRaw: paired('pipeline', 'raw') };
  const targets = { adapterToRaw: 0.8, adapterToBullmq: 5 };
  console.log(
    `Redis Streams consumption, ${entries} entries, median of ${runs} alternating runs` +
      (warmup > 0 ? ` after ${warmup} untimed round${warmup === 1 ? '' : 's'} of every case` : ''),
  );
  console.table(
    Object.fromEntries(
      results.map((r) => [
        r.name,
        r.error
          ? { 'msgs/s': r.error }
          : {
              'msgs/s': r.msgsPerSecond,
              'CPU µs/msg': r.cpuMicrosPerMessage,
              'main-thread ns/msg': r.mainThreadNsPerMessage,
            },
      ]),
    ),
  );
  for (const key of ['adapter', 'pipeline']) {
    const { mainThreadNsPerMessage: ns, cpuMicrosPerMessage: us } = onTopOfClientLibrary[key];
    console.log(`${key} on top of the client library: ${ns} main-thread ns/msg, ${us} CPU µs/msg`);
  }
  console.log(
    `adapter/raw ${ratios.adapterToRaw} (target >= ${targets.adapterToRaw}), ` +
      `adapter/BullMQ ${ratios.adapterToBullmq} (target >= ${targets.adapterToBullmq}), pipeline/raw ${ratios.pipelineToRaw}; ` +
      `round by round: adapter/raw ${pairedRatios.adapterToRaw}, pipeline/raw ${pairedRatios.pipelineToRaw} (medians)`,
  );
  // Other processes on the machine (Redis among them) move these figures: the load is recorded with them.
  const machine = { cpus: cpus().length, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) };
  const report = {
    benchmark: 'redis-streams',
    entries,
    runs,
    warmup,
    node: process.version,
    machine,
    results,
    ratios,
    pairedRatios,
    targets,
    onTopOfClientLibrary,
  };
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('redis-streams.json', out), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
