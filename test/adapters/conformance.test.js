// The same cases against every adapter, through the real pipeline: delivery, ack, nack, dead letters,
// backpressure and shutdown with messages in flight. What differs between transports comes from `features`.
import t from 'tap';
import { MemoryDlq, Processor } from '../../dist/index.js';
import { startPipeline } from '../../dist/streams/pipeline.js';
import { harnesses } from './harnesses.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs bodies through a processor until `expected` messages are settled (or the input ends). */
async function run(h, harness, processor, bodies, { expected = bodies.length, ...options } = {}) {
  const dlq = new MemoryDlq();
  if (!harness.features.endsWithInput) {
    const pipeline = await startPipeline({ adapter: h.adapter(), processor, dlq, threads: 0, batchSize: 20, lingerMs: 1, ...options });
    await h.publish(bodies);
    const s = pipeline.stats;
    await until(() => s.acked + s.deadLettered + s.nacked >= expected && s.inFlight === 0, `${expected} settled`);
    return { stats: await pipeline.stop(), dlq, pipeline };
  }
  await h.publish(bodies);
  const pipeline = await startPipeline({ adapter: h.adapter(), processor, dlq, threads: 0, batchSize: 20, lingerMs: 1, ...options });
  return { stats: await pipeline.done, dlq, pipeline };
}

for (const harness of harnesses) {
  t.test(`${harness.name} (${Object.entries(harness.features).filter(([, v]) => v).map(([k]) => k).join(', ')})`, await harness.need(), async (t) => {
    t.test('delivers every message to its handler once, with transport metadata, and acks it', async (t) => {
      const h = await harness.setup(t);
      const seen = [];
      const sources = new Set();
      const processor = new Processor();
      processor.handleFor(() => true, (m, ctx) => {
        seen.push(m.rawData.toString());
        sources.add(ctx.delivery.source);
      });
      const bodies = Array.from({ length: 200 }, (_, i) => `m-${i}`);
      const { stats } = await run(h, harness, processor, bodies);
      t.equal(stats.received, 200);
      t.equal(stats.acked, 200);
      t.same([...seen].sort(), [...bodies].sort(), 'each exactly once');
      t.same([...sources], [h.source], 'ctx.delivery names the source');
      if (harness.features.ordering) t.same(seen, bodies, 'in order');
      t.equal(await h.pending(), 0, 'nothing left unacked at the transport');
    });

    t.test('an unprocessable message is stored as a dead letter, then acked', async (t) => {
      const h = await harness.setup(t);
      const processor = new Processor();
      processor.handleFor((m) => m.rawData.toString().startsWith('ok'), () => {});
      const { stats, dlq } = await run(h, harness, processor, ['ok-1', 'lost-2', 'ok-3']);
      t.equal(stats.acked, 2);
      t.equal(stats.deadLettered, 1);
      const [letter] = await dlq.list();
      t.equal(letter.body.toString(), 'lost-2');
      t.equal(letter.reason, 'no matching handler');
      t.equal(letter.source, h.source);
      t.equal(await h.pending(), 0);
    });

    t.test(`a nack is ${harness.features.requeue ? 'redelivered' : 'stored as a dead letter "nacked"'}`, async (t) => {
      const h = await harness.setup(t);
      const nackedOnce = new Set();
      const handled = [];
      const processor = new Processor();
      processor.handleFor(() => true, (m, ctx) => {
        const body = m.rawData.toString();
        if (body === 'again' && !nackedOnce.has(body)) {
          nackedOnce.add(body);
          ctx.nack();
          return;
        }
        handled.push(body);
      });
      const expected = harness.features.requeue ? 3 : 2;
      const { stats, dlq } = await run(h, harness, processor, ['one', 'again'], { expected });
      if (harness.features.requeue) {
        t.same(handled.sort(), ['again', 'one'], 'handled on redelivery');
        t.equal(stats.nacked, 1);
        t.equal(await dlq.count(), 0);
      } else {
        t.same(handled, ['one']);
        t.equal((await dlq.list())[0]?.reason, 'nacked');
      }
      t.equal(await h.pending(), 0);
    });

    t.test('backpressure: never more unsettled messages than the in-flight cap', async (t) => {
      const h = await harness.setup(t);
      const processor = new Processor();
      processor.handleFor(() => true, () => sleep(2));
      let max = 0;
      const bodies = Array.from({ length: 300 }, (_, i) => `b-${i}`);
      const dlq = new MemoryDlq();
      const options = { adapter: h.adapter(), processor, dlq, threads: 0, batchSize: 5, lingerMs: 1, maxInFlight: 10 };
      if (harness.features.endsWithInput) await h.publish(bodies);
      const pipeline = await startPipeline(options);
      const watch = setInterval(() => (max = Math.max(max, pipeline.stats.inFlight)), 1);
      if (!harness.features.endsWithInput) await h.publish(bodies);
      await until(() => pipeline.stats.acked === 300, '300 acked', 30000);
      if (!harness.features.endsWithInput) await pipeline.stop();
      else await pipeline.done;
      clearInterval(watch);
      t.ok(max > 0 && max <= 10, `at most 10 in flight (saw ${max})`);
    });

    t.test('shutdown with messages in flight: every message read is settled, the rest stay with the transport', async (t) => {
      const h = await harness.setup(t);
      const processor = new Processor();
      processor.handleFor(() => true, () => sleep(20));
      const bodies = Array.from({ length: 400 }, (_, i) => `s-${i}`);
      const dlq = new MemoryDlq();
      if (harness.features.endsWithInput) await h.publish(bodies);
      const pipeline = await startPipeline({ adapter: h.adapter(), processor, dlq, threads: 0, batchSize: 10, lingerMs: 1, maxInFlight: 40 });
      if (!harness.features.endsWithInput) await h.publish(bodies);
      await until(() => pipeline.stats.acked >= 40, 'some acked');
      const stats = await pipeline.stop();
      t.ok(stats.received < 400, `stopped part-way (${stats.received} read)`);
      t.equal(stats.unsettled, 0);
      t.equal(stats.acked + stats.nacked + stats.deadLettered, stats.received, 'each read message settled');
      if (harness.features.persistence && harness.features.requeue) {
        t.equal(await h.pending(), 400 - stats.acked, 'the transport keeps every message not acked');
      }
    });
  });
}
