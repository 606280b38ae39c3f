// Consuming a RabbitMQ queue: the bare amqplib loop, the AmqpAdapter, and the full pipeline, in one run, each on a
// fresh queue filled beforehand so only consumption is timed. Same prefetch everywhere.
// Run: node bench/amqp.js [--messages 100000] [--prefetch 1000] [--ack-every 250] [--runs 3] [--warmup 1]
//      [--amqp-url amqp://guest:guest@127.0.0.1:5672]   (after `npx tsc -p .`)
// The first --warmup rounds are not timed (see broker-rounds.js); their rates are kept as `coldSamples`.
// Prints msgs/s, this process's CPU time per message, the main thread's busy time per message and V8's
// young-generation collections (count and pause ms; medians of the runs), what the adapter and the pipeline add to
// the raw loop's figures ("on top of the client library"), and ratios; writes bench/results/amqp.json. RabbitMQ on
// the same machine is usually the bottleneck, so msgs/s moves with its load; CPU µs/msg and main-thread ns/msg are
// the steadier measures of what the client side costs.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { AmqpAdapter } from '../dist/adapters/amqp.js';
import { MemoryDlq, Processor } from '../dist/index.js';
import { startPipeline } from '../dist/streams/pipeline.js';
import { brokerRounds } from './broker-rounds.js';
import { wholeNumber } from './flags.js';
import { startMeter, whenAcked } from './meter.js';

const FILL_BATCH = 5000;
const SETTLE_MS = 1000;

/** A body shaped like a real event: about 80 bytes of JSON. */
const bodyOf = (i) => `{"type":"order.placed","order":{"id":${i},"totalCents":${1000 + (i % 97)}}}`;

/** A fresh durable queue (as the adapter declares it) holding `messages` messages; returns its name. */
async function fill(url, messages, label) {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const queue = `missive-bench-${label}-${randomUUID()}`;
    await channel.assertQueue(queue, { durable: true });
    for (let start = 0; start < messages; start += FILL_BATCH) {
      for (let i = start; i < Math.min(messages, start + FILL_BATCH); i++) {
        channel.sendToQueue(queue, Buffer.from(bodyOf(i)), { messageId: `m-${i}` });
      }
      await channel.waitForConfirms();
    }
    return queue;
  } finally {
    await connection.close();
    // Let the broker finish with the burst of publishes (confirms, queue index) before the timed part starts.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
}

/** Deletes the queue after checking that nothing was left in it (acked means gone, ready or unacked). */
async function drop(url, queue, label) {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await channel.deleteQueue(queue);
    if (messageCount !== 0) throw new Error(`${label}: ${messageCount} messages left in the queue`);
  } finally {
    await connection.close();
  }
}

/** The baseline: consume with prefetch P, ack with allUpTo every K messages (and the rest at the end); no framework. */
async function raw({ url, messages, prefetch, ackEvery }) {
  const queue = await fill(url, messages, 'raw');
  const meter = startMeter();
  const connection = await amqp.connect(url);
  let read = 0;
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(prefetch);
    await new Promise((resolve, reject) => {
      channel.on('close', () => reject(new Error('raw: the channel closed')));
      let unacked = 0;
      channel.consume(queue, (message) => {
        read++;
        if (++unacked >= ackEvery || read === messages) {
          channel.ack(message, true);
          unacked = 0;
        }
        if (read === messages) resolve();
      });
    });
    const measured = meter();
    // The channel first: a connection close can overtake acks still queued on the channel (amqplib muxes them).
    await channel.close();
    await connection.close();
    await drop(url, queue, 'raw');
    return { read, ...measured };
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
}

/** The adapter alone: open, read its batches, ack each one, close. */
async function adapter({ url, messages, prefetch }) {
  const queue = await fill(url, messages, 'adapter');
  const consumer = new AmqpAdapter({ url, queues: [queue] });
  const meter = startMeter();
  const readable = await consumer.open({ maxInFlight: prefetch });
  let read = 0;
  let batches = 0;
  for await (const batch of readable) {
    read += batch.length;
    batches++;
    consumer.ack(batch, 'handled');
    if (read >= messages) break;
  }
  const measured = meter();
  const frames = consumer.settleFrames;
  await consumer.close();
  await drop(url, queue, 'adapter');
  return { read, ...measured, batches, frames };
}

/** The whole run: adapter → match → dispatch → settle, a no-op handler, handlers in this thread. */
async function pipeline({ url, messages, prefetch }) {
  const queue = await fill(url, messages, 'pipeline');
  const processor = new Processor(undefined, { name: 'bench-noop' });
  processor.handleFor(
    () => true,
    () => {},
  );
  const consumer = new AmqpAdapter({ url, queues: [queue] });
  const acked = whenAcked(consumer, messages);
  const meter = startMeter();
  const run = await startPipeline({
    adapter: consumer,
    processor,
    dlq: new MemoryDlq(),
    threads: 0,
    maxInFlight: prefetch,
  });
  await Promise.race([acked, run.done]);
  const measured = meter();
  const stats = await run.stop();
  if (stats.acked !== messages) throw new Error(`pipeline: ${stats.acked} acked of ${messages}`);
  await drop(url, queue, 'pipeline');
  return { read: stats.received, ...measured };
}

/** Runs every case `runs` times, alternating, and writes bench/results/amqp.json. */
export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '100000' },
      prefetch: { type: 'string', default: '1000' },
      'ack-every': { type: 'string', default: '250' },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'amqp-url': { type: 'string', default: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
    },
  });
  const messages = wholeNumber('messages', values.messages);
  const prefetch = wholeNumber('prefetch', values.prefetch);
  const ackEvery = wholeNumber('ack-every', values['ack-every']);
  const runs = wholeNumber('runs', values.runs);
  const warmup = wholeNumber('warmup', values.warmup, 0);
  if (ackEvery > prefetch) throw new Error('--ack-every must not exceed --prefetch, or the raw loop stalls');
  const options = { url: values['amqp-url'], messages, prefetch, ackEvery };
  const cases = [
    { key: 'raw', name: `raw amqplib: prefetch ${prefetch}, ack allUpTo every ${ackEvery}`, run: raw },
    { key: 'adapter', name: `AmqpAdapter: prefetch ${prefetch}, read batches, ack each`, run: adapter },
    { key: 'pipeline', name: `startPipeline, no-op handler, threads: 0, maxInFlight ${prefetch}`, run: pipeline },
  ];
  const details = [];
  const note = (result) => {
    if (!result.frames) return '';
    details.push({ batches: result.batches, ackFrames: result.frames });
    return ` (${result.batches} batches, ${result.frames} ack frames)`;
  };
  const { results, ratio, paired, onTop } = await brokerRounds(cases, { messages, runs, warmup, options, note });
  const onTopOfClientLibrary = { adapter: onTop('adapter'), pipeline: onTop('pipeline') };
  const ratios = { adapterToRaw: ratio('adapter', 'raw'), pipelineToRaw: ratio('pipeline', 'raw') };
  const pairedRatios = { adapterToRaw: paired('adapter', 'raw'), pipelineToRaw: paired('pipeline', 'raw') };
  const targets = { adapterToRaw: 0.8, pipelineToRaw: 0.9 };
  console.log(
    `RabbitMQ consumption, ${messages} messages, prefetch ${prefetch}, median of ${runs} alternating runs` +
      (warmup > 0 ? ` after ${warmup} untimed round${warmup === 1 ? '' : 's'} of every case` : ''),
  );
  console.table(
    Object.fromEntries(
      results.map((r) => [
        r.name,
        {
          'msgs/s': r.msgsPerSecond,
          'CPU µs/msg': r.cpuMicrosPerMessage,
          'main-thread ns/msg': r.mainThreadNsPerMessage,
          scavenges: r.scavenges,
          'scavenge ms': r.scavengeMs,
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
      `pipeline/raw ${ratios.pipelineToRaw} (target >= ${targets.pipelineToRaw}); ` +
      `round by round: adapter/raw ${pairedRatios.adapterToRaw}, pipeline/raw ${pairedRatios.pipelineToRaw} (medians)`,
  );
  // RabbitMQ runs on the same machine and competes for its cores: the load is recorded with the figures.
  const machine = { cpus: cpus().length, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) };
  const report = {
    benchmark: 'amqp',
    messages,
    prefetch,
    ackEvery,
    runs,
    warmup,
    node: process.version,
    machine,
    results,
    adapterAcks: details,
    ratios,
    pairedRatios,
    targets,
    onTopOfClientLibrary,
  };
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('amqp.json', out), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
