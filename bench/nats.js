// Consuming a NATS JetStream stream: the plain nats.js pull loop against the NatsAdapter and the full pipeline, in
// one run, each on a fresh stream filled beforehand so only consumption is timed.
// Run: node bench/nats.js [--messages 100000] [--runs 3] [--warmup 1] [--nats-url nats://127.0.0.1:4222]
// The first --warmup rounds are not timed (see broker-rounds.js). Prints msgs/s, this process's CPU µs per message
// and the main thread's busy ns per message (medians), what the adapter and the pipeline add to the raw loop ("on
// top of the client library": CPU per message moves less than msgs/s when the broker shares the cores), and
// ratios; writes bench/results/nats.json.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { AckPolicy, connect } from 'nats';
import { NatsAdapter } from '../dist/adapters/nats.js';
import { MemoryDlq, Processor } from '../dist/index.js';
import { startPipeline } from '../dist/streams/pipeline.js';
import { brokerRounds } from './broker-rounds.js';
import { wholeNumber } from './flags.js';
import { startMeter, whenAcked } from './meter.js';

/** What one pull asks for, in the raw loop and as the pipeline's in-flight cap. */
const PULL = 500;
const FILL_BATCH = 1000;
const bodyOf = (i) => `{"type":"order.placed","order":{"id":${i},"totalCents":${1000 + (i % 97)}}}`;

/** A fresh stream of `messages` bodies on its own subject; returns its name and a function that deletes it. */
async function freshStream(url, messages) {
  const nc = await connect({ servers: new URL(url).host });
  const jsm = await nc.jetstreamManager();
  const stream = `missive-bench-${randomUUID()}`;
  const subject = `missive-bench.${stream}`;
  await jsm.streams.add({ name: stream, subjects: [subject] });
  const js = nc.jetstream();
  const encoder = new TextEncoder();
  for (let start = 0; start < messages; start += FILL_BATCH) {
    const acks = [];
    for (let i = start; i < Math.min(messages, start + FILL_BATCH); i++)
      acks.push(js.publish(subject, encoder.encode(bodyOf(i))));
    await Promise.all(acks);
  }
  return {
    nc,
    jsm,
    stream,
    drop: async () => {
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    },
  };
}

/** The baseline: a durable explicit-ack pull consumer, consumed PULL at a time, each message acked; no framework. */
async function raw({ url, messages }) {
  const { nc, jsm, stream, drop } = await freshStream(url, messages);
  try {
    await jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit });
    const consumer = await nc.jetstream().consumers.get(stream, 'bench');
    const meter = startMeter();
    let read = 0;
    // consume() keeps pulls going ahead of the loop (a new pull when half of one was used): the fastest plain loop.
    const incoming = await consumer.consume({ max_messages: PULL });
    for await (const message of incoming) {
      message.ack();
      // Stopped rather than left by break, which leaves close() waiting for ever.
      if (++read === messages) incoming.stop();
    }
    await nc.flush();
    return { read, ...meter() };
  } finally {
    await drop();
  }
}

/** The adapter alone: open, read its batches, ack each one, close. */
async function adapter({ url, messages }) {
  const { stream, drop } = await freshStream(url, messages);
  try {
    const nats = new NatsAdapter({ url, stream, consumer: 'bench' });
    const meter = startMeter();
    const readable = await nats.open({ maxInFlight: PULL });
    let read = 0;
    for await (const batch of readable) {
      read += batch.length;
      await nats.ack(batch, 'handled');
      if (read >= messages) break;
    }
    await nats.close();
    return { read, ...meter() };
  } finally {
    await drop();
  }
}

/** The whole run: adapter → match → dispatch → settle, a no-op handler, handlers in this thread. */
async function pipeline({ url, messages }) {
  const { stream, drop } = await freshStream(url, messages);
  try {
    const processor = new Processor(undefined, { name: 'bench-noop' });
    processor.handleFor(
      () => true,
      () => {},
    );
    const nats = new NatsAdapter({ url, stream, consumer: 'bench' });
    const acked = whenAcked(nats, messages);
    const meter = startMeter();
    const run = await startPipeline({ adapter: nats, processor, dlq: new MemoryDlq(), threads: 0, maxInFlight: PULL });
    await Promise.race([acked, run.done]);
    const stats = await run.stop();
    const measured = meter();
    if (stats.acked !== messages) throw new Error(`pipeline: ${stats.acked} acked of ${messages}`);
    return { read: stats.received, ...measured };
  } finally {
    await drop();
  }
}

/** Runs every case `runs` times, alternating, and writes bench/results/nats.json. */
export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'nats-url': { type: 'string', default: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' },
    },
  });
  const messages = wholeNumber('messages', values.messages, PULL);
  const runs = wholeNumber('runs', values.runs);
  const warmup = wholeNumber('warmup', values.warmup, 0);
  const cases = [
    { key: 'raw', name: `raw nats.js: consume ${PULL} at a time, ack each`, run: raw },
    { key: 'adapter', name: 'NatsAdapter: read batches, ack each', run: adapter },
    { key: 'pipeline', name: 'startPipeline, no-op handler, threads: 0', run: pipeline },
  ];
  const { results, ratio, paired, onTop } = await brokerRounds(cases, {
    messages,
    runs,
    warmup,
    options: { url: values['nats-url'], messages },
  });
  const onTopOfClientLibrary = { adapter: onTop('adapter'), pipeline: onTop('pipeline') };
  const ratios = { adapterToRaw: ratio('adapter', 'raw'), pipelineToRaw: ratio('pipeline', 'raw') };
  const pairedRatios = { adapterToRaw: paired('adapter', 'raw'), pipelineToRaw: paired('pipeline', 'raw') };
  console.log(
    `NATS JetStream consumption, ${messages} messages, median of ${runs} alternating runs` +
      (warmup > 0 ? ` after ${warmup} untimed round(s)` : ''),
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
    console.log(
      `${key} on top of the client library: ${ns} main-thread ns/msg, ${us} CPU µs/msg (target for the pipeline: <= 0.5 CPU µs/msg)`,
    );
  }
  console.log(
    `adapter/raw ${ratios.adapterToRaw}, pipeline/raw ${ratios.pipelineToRaw}; round by round: adapter/raw ${pairedRatios.adapterToRaw}, pipeline/raw ${pairedRatios.pipelineToRaw} (medians)`,
  );
  const machine = { cpus: cpus().length, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) };
  const report = {
    benchmark: 'nats',
    messages,
    runs,
    warmup,
    node: process.version,
    machine,
    results,
    ratios,
    pairedRatios,
    onTopOfClientLibrary,
  };
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('nats.json', out), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
