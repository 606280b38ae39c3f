// MemoryAdapter on its own, through run(): requeue with delivery counts, what it records, how its stream ends.
import t from 'tap';
import { MemoryDlq, Processor, run } from 'missive-node';
import { MemoryAdapter, TOO_MANY_DELIVERIES } from 'missive-node/adapters';

const bodyOf = (m) => m.rawData.toString();

t.test(
  'endWhenIdle: publish, run, and the run ends once everything is settled; every outcome is recorded',
  async (t) => {
    const processor = new Processor();
    processor.handleFor(
      (m) => bodyOf(m).startsWith('ok'),
      () => {},
    );
    const adapter = new MemoryAdapter({ endWhenIdle: true });
    const settled = adapter.publish(['ok-1', 'lost', 'ok-2']);
    const dlq = new MemoryDlq();
    const running = await run(processor, { adapter, dlq, threads: 0 });
    const stats = await running.done;
    t.match(stats, { received: 3, acked: 2, deadLettered: 1, nacked: 0 });
    t.same(
      adapter.handled.map((d) => d.body.toString()),
      ['ok-1', 'ok-2'],
    );
    t.same(
      adapter.deadLettered.map((d) => d.body.toString()),
      ['lost'],
    );
    t.equal(adapter.acked.length, 3, 'acked: handled and dead-lettered');
    t.same(
      (await settled).map((s) => s.outcome),
      ['handled', 'dead-lettered', 'handled'],
    );
    t.equal((await dlq.list())[0].source, 'memory');
    t.equal(adapter.pending, 0);
  },
);

t.test('a nack delivers the message again with deliveryCount one higher, until it is handled', async (t) => {
  const processor = new Processor();
  const counts = [];
  processor.handleFor(
    () => true,
    (m, ctx) => {
      counts.push(ctx.delivery.deliveryCount);
      if (ctx.delivery.deliveryCount < 3) ctx.nack();
    },
  );
  const adapter = new MemoryAdapter({ endWhenIdle: true });
  t.equal(adapter.canRequeue, true);
  const settled = adapter.publish('again', { id: 'a1', meta: { headers: { k: 'v' } } });
  const stats = await (await run(processor, { adapter, dlq: new MemoryDlq(), threads: 0 })).done;
  t.same(counts, [1, 2, 3]);
  t.same(
    adapter.nacked.map((d) => d.deliveryCount),
    [1, 2],
  );
  t.same(
    adapter.handled.map((d) => [d.id, d.deliveryCount, d.meta.headers]),
    [['a1', 3, { k: 'v' }]],
  );
  t.match(await settled, { id: 'a1', outcome: 'handled', nacks: 2, delivery: { deliveryCount: 3 } });
  t.match(stats, { received: 3, nacked: 2, acked: 1 });
});

t.test('past maxDeliveries a message becomes a dead letter "too many deliveries", and is acked', async (t) => {
  const processor = new Processor();
  let runs = 0;
  processor.handleFor(
    () => true,
    (m, ctx) => {
      runs++;
      ctx.nack();
    },
  );
  const adapter = new MemoryAdapter({ endWhenIdle: true, maxDeliveries: 3 });
  adapter.publish('poison', { id: 'p' });
  const dlq = new MemoryDlq();
  await (
    await run(processor, { adapter, dlq, threads: 0 })
  ).done;
  t.equal(runs, 3);
  const letter = await dlq.get('p');
  t.equal(letter.reason, TOO_MANY_DELIVERIES);
  t.equal(letter.error, 'delivered 4 times (maxDeliveries 3)');
  t.same(
    adapter.deadLettered.map((d) => d.deliveryCount),
    [4],
  );
  t.equal(adapter.acked.length, 1);
});

t.test('requeue: false behaves like a transport that cannot redeliver: a nack is a dead letter "nacked"', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    (m, ctx) => ctx.nack(),
  );
  const adapter = new MemoryAdapter({ endWhenIdle: true, requeue: false });
  t.equal(adapter.canRequeue, false);
  adapter.publish('x', { id: 'x' });
  const dlq = new MemoryDlq();
  await (
    await run(processor, { adapter, dlq, threads: 0 })
  ).done;
  t.equal((await dlq.get('x')).reason, 'nacked');
  t.same(adapter.nacked, []);
  t.equal(adapter.deadLettered.length, 1);
});

t.test('redelivery through the full pipeline on worker threads', async (t) => {
  const { default: processor } = await import('../fixtures/test-client-processor.js');
  const adapter = new MemoryAdapter({ endWhenIdle: true });
  adapter.publish([JSON.stringify({ kind: 'nack-twice' }), JSON.stringify({ kind: 'where' })]);
  const module = new URL('../fixtures/test-client-processor.js', import.meta.url);
  const stats = await (await run(processor, { adapter, dlq: new MemoryDlq(), threads: 1, module })).done;
  t.match(stats, { acked: 2, nacked: 2, deadLettered: 0 });
  t.same(
    adapter.nacked.map((d) => d.deliveryCount),
    [1, 2],
  );
  t.not(JSON.parse(adapter.replies[0].body.toString()).threadId, 0, 'handled in a worker');
});

t.test(
  'end(): the stream ends only once everything published is settled; publishing after it is refused',
  async (t) => {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      () => new Promise((resolve) => setTimeout(resolve, 50)),
    );
    const adapter = new MemoryAdapter();
    const running = await run(processor, { adapter, dlq: new MemoryDlq(), threads: 0 });
    const settled = adapter.publish(['a', 'b']);
    adapter.end();
    t.throws(() => adapter.publish('late'), { code: 'MISSIVE_ERR_CLOSED' });
    const stats = await running.done;
    t.equal(stats.acked, 2, 'both finished before the run ended');
    t.same(
      (await settled).map((s) => s.outcome),
      ['handled', 'handled'],
    );
  },
);

t.test('stop() leaves waiting messages with the transport; close() resolves them "unsettled"', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => new Promise((resolve) => setTimeout(resolve, 20)),
  );
  const adapter = new MemoryAdapter();
  const bodies = Array.from({ length: 50 }, (_, i) => `m${i}`);
  const settled = adapter.publish(bodies);
  const running = await run(processor, { adapter, dlq: new MemoryDlq(), threads: 0, maxInFlight: 5, batchSize: 5 });
  while (running.stats.acked < 5) await new Promise((resolve) => setTimeout(resolve, 5));
  const stats = await running.stop();
  const outcomes = (await settled).map((s) => s.outcome);
  t.equal(outcomes.filter((o) => o === 'handled').length, stats.acked);
  t.equal(
    outcomes.filter((o) => o === 'unsettled').length,
    50 - stats.acked,
    'the rest were never handed out, or handed back',
  );
  t.ok(stats.acked < 50);
});

t.test('metadata is copied as a worker thread would see it; a function in it is refused', async (t) => {
  const adapter = new MemoryAdapter();
  t.throws(() => adapter.publish('x', { meta: { callback: () => {} } }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /meta cannot cross to a worker thread/,
  });
  const meta = { headers: { n: 1 } };
  const processor = new Processor();
  let seen;
  processor.handleFor(
    () => true,
    (m, ctx) => {
      seen = ctx.delivery;
    },
  );
  adapter.publish('y', { meta });
  adapter.end();
  await (
    await run(processor, { adapter, dlq: new MemoryDlq(), threads: 0 })
  ).done;
  t.same(seen.headers, { n: 1 });
  t.not(seen.headers, meta.headers, 'a copy, not the object published');
  t.equal(seen.source, 'memory');
});

t.test('replies are recorded with the delivery they answer', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    (m, ctx) => ctx.reply(`re:${bodyOf(m)}`),
  );
  const adapter = new MemoryAdapter({ endWhenIdle: true });
  adapter.publish('ping', { id: 'q' });
  await (
    await run(processor, { adapter, dlq: new MemoryDlq(), threads: 0 })
  ).done;
  t.same(
    adapter.replies.map((r) => [r.delivery.id, r.body.toString()]),
    [['q', 're:ping']],
  );
});

t.test('options and bodies it cannot take are refused with what to do', async (t) => {
  t.throws(() => new MemoryAdapter({ maxDeliveries: 0 }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /maxDeliveries/,
  });
  t.throws(() => new MemoryAdapter({ endWhenIdle: 'yes' }), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  const adapter = new MemoryAdapter();
  t.throws(() => adapter.publish({ n: 1 }), { message: /JSON\.stringify objects first/ });
  t.throws(() => adapter.publish(['a', 'b'], { id: 'same' }), { message: /an id names one message/ });
  await adapter.open({ maxInFlight: 10 });
  await t.rejects(adapter.open({ maxInFlight: 10 }), { code: 'MISSIVE_ERR_CLOSED' });
  await adapter.close();
});
