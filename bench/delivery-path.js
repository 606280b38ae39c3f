// What the pipeline costs per delivery on the broker path, without a broker: an in-process transport hands over
// chunks of deliveries shaped like AMQP's (one chunk per turn of the event loop, as one socket read brings them,
// never more unsettled than a prefetch window) and takes acks at once. The broker benches cannot show a change of
// 10% in the framework's own cost: RabbitMQ and Redis share the two cores and move their figures by more. This one
// has nothing else running, so its CPU time per message is the pipeline's and the bare loop's alone.
// Run: node bench/delivery-path.js [--messages 600000] [--chunk 18] [--window 1000] [--runs 5] [--warmup 2]
//      (after `npx tsc -p .`)
// Prints, per case, the medians of msgs/s, CPU time and main-thread busy time per message, and the pipeline's cost on
// top of the bare loop; writes bench/results/delivery-path.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { MemoryDlq, Processor } from '../dist/index.js';
import { startPipeline } from '../dist/streams/pipeline.js';
import { brokerRounds } from './broker-rounds.js';
import { wholeNumber } from './flags.js';
import { startMeter } from './meter.js';

/** About 80 bytes of JSON, as bench/amqp.js publishes. */
const bodyOf = (i) => Buffer.from(`{"type":"order.placed","order":{"id":${i},"totalCents":${1000 + (i % 97)}}}`);

/**
 * The metadata of every delivery: the AMQP adapter gives consecutive deliveries with equal metadata (one queue, no
 * headers, not redelivered) one shared frozen object (see src/adapters/amqp-meta.ts).
 */
const META = Object.freeze({
  source: 'amqp:bench',
  queue: 'bench',
  exchange: '',
  routingKey: 'bench',
  redelivered: false,
  deliveryCount: 1,
  headers: Object.freeze({}),
  contentType: undefined,
  correlationId: undefined,
  replyTo: undefined,
});

/**
 * A transport in this process: `messages` deliveries with AMQP's metadata, `chunk` per turn, at most `window`
 * unsettled, each acked (or nacked) in no time. Resolves `finished` once every delivery is settled.
 */
class ChunkedTransport {
  name = 'chunked';
  canRequeue = true;
  client = undefined;
  #messages;
  #chunk;
  #window;
  #bodies;
  #sent = 0;
  #unsettled = 0;
  #settled = 0;
  #scheduled = false;
  #readable;
  #finish;
  /** Deliveries of a channel that is never lost (see `revoked`). */
  #channel = { alive: true };

  constructor({ messages, chunk, window }) {
    this.#messages = messages;
    this.#chunk = chunk;
    this.#window = window;
    this.#bodies = Array.from({ length: 1024 }, (_, i) => bodyOf(i));
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  async open() {
    this.#readable = new Readable({ objectMode: true, read: () => {} });
    this.#schedule();
    return this.#readable;
  }

  /** As the AMQP adapter answers: a delivery of a lost channel was taken back. */
  revoked(delivery) {
    return delivery.handle.channel.alive === false;
  }

  ack(deliveries) {
    this.#settle(deliveries.length);
  }

  ackConfirmed(deliveries) {
    this.#settle(deliveries.length);
    return Promise.resolve(deliveries.length);
  }

  nack(deliveries) {
    this.#settle(deliveries.length);
  }

  async stop() {
    this.#readable.push(null);
  }

  async close() {}

  #settle(count) {
    this.#unsettled -= count;
    this.#settled += count;
    if (this.#settled >= this.#messages) this.#finish();
    this.#schedule();
  }

  #schedule() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#deliver();
    });
  }

  #deliver() {
    const room = Math.min(this.#chunk, this.#window - this.#unsettled, this.#messages - this.#sent);
    if (room <= 0) return;
    const chunk = new Array(room);
    for (let k = 0; k < room; k++) {
      const i = this.#sent++;
      chunk[k] = {
        body: this.#bodies[i & 1023],
        id: `m-${i}`,
        meta: META,
        handle: { channel: this.#channel, tag: i + 1 },
      };
    }
    this.#unsettled += room;
    this.#readable.push(chunk);
    this.#schedule();
  }
}

/** The same work without the framework: read the chunks, call the matcher and handler on each, ack the chunk. */
async function bare(settings) {
  const { matcher, handler } = settings;
  const transport = new ChunkedTransport(settings);
  const readable = await transport.open();
  const meter = startMeter();
  let read = 0;
  for await (const chunk of readable) {
    for (const delivery of chunk) if (matcher(delivery)) handler(delivery);
    transport.ack(chunk);
    read += chunk.length;
    if (read >= settings.messages) break;
  }
  return { read, ...meter() };
}

/** The pipeline, handlers in this thread, its in-flight cap the transport's window. */
async function pipeline(settings) {
  const { matcher, handler } = settings;
  const processor = new Processor(undefined, { name: 'bench-delivery-path' });
  processor.handleFor(matcher, handler);
  const transport = new ChunkedTransport(settings);
  const meter = startMeter();
  const run = await startPipeline({
    adapter: transport,
    processor,
    dlq: new MemoryDlq(),
    threads: 0,
    maxInFlight: settings.window,
  });
  await transport.finished;
  const figures = meter();
  const stats = await run.stop();
  if (stats.acked !== settings.messages) throw new Error(`pipeline: ${stats.acked} acked of ${settings.messages}`);
  return { read: stats.received, ...figures };
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '600000' },
      chunk: { type: 'string', default: '18' },
      window: { type: 'string', default: '1000' },
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const settings = Object.fromEntries(
    ['messages', 'chunk', 'window', 'runs'].map((key) => [key, wholeNumber(key, values[key])]),
  );
  const { messages, runs } = settings;
  const warmup = wholeNumber('warmup', values.warmup, 0);
  // Matcher and handler as in bench/amqp.js: every message matches, the handler does nothing.
  const matcher = () => true;
  const handler = () => {};
  const options = { ...settings, matcher, handler };
  const cases = [
    { key: 'bare', name: `bare loop: chunks of ${settings.chunk}, ack per chunk`, run: bare },
    {
      key: 'pipeline',
      name: `startPipeline, no-op handler, threads: 0, maxInFlight ${settings.window}`,
      run: pipeline,
    },
  ];
  const { results, ratio, onTop } = await brokerRounds(cases, { messages, runs, warmup, options, baseline: 'bare' });
  const pipelineOnTop = onTop('pipeline');
  console.log(
    `Delivery path without a broker, ${messages} messages in chunks of ${settings.chunk}, window ${settings.window}, ` +
      `median of ${runs} alternating runs after ${warmup} untimed`,
  );
  console.table(
    Object.fromEntries(
      results.map((r) => [
        r.name,
        {
          'msgs/s': r.msgsPerSecond,
          'CPU ns/msg': Math.round(r.cpuMicrosPerMessage * 1000),
          'main-thread ns/msg': r.mainThreadNsPerMessage,
        },
      ]),
    ),
  );
  console.log(
    `pipeline on top of the bare loop: ${Math.round(pipelineOnTop.cpuMicrosPerMessage * 1000)} CPU ns/msg, ` +
      `${pipelineOnTop.mainThreadNsPerMessage} main-thread ns/msg; pipeline/bare ${ratio('pipeline', 'bare')}`,
  );
  const report = {
    benchmark: 'delivery-path',
    ...settings,
    warmup,
    node: process.version,
    machine: { cpus: cpus().length, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) },
    results,
    pipelineOnTopOfBareLoop: pipelineOnTop,
  };
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('delivery-path.json', out), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
