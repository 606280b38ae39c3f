// The test client on the in-memory transport and run(): redelivery, what `acked` holds, a store per client,
// retries without sleeping. Handlers run in this thread here; test-client-threads.test.js runs them on workers.
import t from 'tap';
import { JsonMessage, MemoryDlq, Processor, TestClient } from 'missive-node';

t.test('a nacked message is delivered again, deliveryCount 1, 2, 3, then handled', async (t) => {
  const processor = new Processor(JsonMessage);
  const seen = [];
  processor.handleFor(
    () => true,
    (m, ctx) => {
      seen.push({ count: ctx.delivery.deliveryCount, attempt: ctx.attempt });
      if (ctx.delivery.deliveryCount < 3) ctx.nack();
    },
  );
  const client = processor.testClient();
  t.same(await client.send({ n: 1 }, { id: 'r' }), { outcome: 'acked' });
  t.same(seen, [
    { count: 1, attempt: 1 },
    { count: 2, attempt: 2 },
    { count: 3, attempt: 3 },
  ]);
  t.same(
    client.nacked.map((m) => [m.id, m.meta.deliveryCount]),
    [
      ['r', 1],
      ['r', 2],
    ],
  );
  t.same(
    client.handled.map((m) => m.meta.deliveryCount),
    [3],
  );
  t.equal(client.attempts.get(client.handled[0]), 3);
  t.equal(await client.dlq.count(), 0, 'nothing was dead-lettered');
  await client.close();
});

t.test('acked holds what the transport acked: handled messages and dead-lettered ones', async (t) => {
  const processor = new Processor(JsonMessage);
  processor.handleFor(
    (m) => m.getJson().ok === true,
    () => {},
  );
  const client = processor.testClient();
  await client.send({ ok: true }, { id: 'good' });
  await client.send({ ok: false }, { id: 'lost' });
  t.same(
    client.acked.map((m) => m.id),
    ['good', 'lost'],
  );
  t.same(
    client.handled.map((m) => m.id),
    ['good'],
  );
  t.same(
    client.deadLettered.map((d) => [d.message.id, d.reason]),
    [['lost', 'no matching handler']],
  );
  t.same(client.acked[1].getJson(), { ok: false }, "records are messages of the processor's class");
  await client.close();
});

t.test('two clients do not share a store, and a store passed in is used', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => false,
    () => {},
  );
  const first = processor.testClient();
  const second = processor.testClient();
  await first.send('one', { id: 'a' });
  t.equal(await first.dlq.count(), 1);
  t.equal(await second.dlq.count(), 0, "the second client sees none of the first one's letters");
  await second.send('two', { id: 'b' });
  t.same(
    (await first.dlq.list()).map((l) => l.id),
    ['a'],
  );
  t.same(
    (await second.dlq.list()).map((l) => l.id),
    ['b'],
  );
  const shared = new MemoryDlq();
  const third = processor.testClient({ dlq: shared });
  t.equal(third.dlq, shared);
  await third.send('three', { id: 'c' });
  t.equal((await shared.get('c')).reason, 'no matching handler');
  await Promise.all([first.close(), second.close(), third.close()]);
});

t.test('retryDelays: 0 runs every retry at once instead of sleeping out the backoff', async (t) => {
  const processor = new Processor();
  const attempts = [];
  // Its own backoff would wait 1 + 2 + 4 = 7 seconds before the fourth attempt.
  processor.handleFor(
    () => true,
    (m, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 4) throw new Error('flaky');
    },
    { retries: 3, backoff: { initialMs: 1000, factor: 2, jitter: false } },
  );
  const client = processor.testClient({ retryDelays: 0 });
  const started = Date.now();
  t.same(await client.send('x'), { outcome: 'acked' });
  const elapsed = Date.now() - started;
  t.same(attempts, [1, 2, 3, 4], 'every retry happened');
  t.equal(client.attempts.get(client.handled[0]), 4);
  t.ok(elapsed < 1000, `no backoff was slept (took ${elapsed} ms, the backoff alone is 7000)`);
  await client.close();
});

t.test(
  'retryDelays as a function is asked for each retry; out of retries, the letter counts every attempt',
  async (t) => {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      () => {
        throw new Error('down');
      },
      { retries: 2 },
    );
    const asked = [];
    const client = processor.testClient({ retryDelays: (retry) => (asked.push(retry), 0) });
    const result = await client.send('x', { id: 'd' });
    t.match(result, { outcome: 'dead-lettered', reason: 'handler failed', error: /Error: down/ });
    t.same(asked, [1, 2]);
    t.equal((await client.dlq.get('d')).attempts, 3);
    await client.close();
  },
);

t.test('retryDelays that make no sense are refused with the option named', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {},
  );
  await t.rejects(processor.testClient({ retryDelays: -5 }).send('x'), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /retryDelays must be/,
  });
  await t.rejects(processor.testClient({ retryDelays: 'soon' }).send('x'), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /retryDelays must be/,
  });
});

t.test("without retryDelays the handler's own backoff applies", async (t) => {
  const processor = new Processor();
  const delays = [];
  processor.handleFor(
    () => true,
    (m, ctx) => {
      if (ctx.attempt === 1) throw new Error('once');
    },
    { retries: 1, backoff: (retry) => (delays.push(retry), 1) },
  );
  const client = processor.testClient();
  t.same(await client.send('x'), { outcome: 'acked' });
  t.same(delays, [1]);
  await client.close();
});

t.test("the processor's store and the client's: setDlq in one test does not reach the next", async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => false,
    () => {},
  );
  const moduleLevel = new MemoryDlq();
  processor.setDlq(moduleLevel);
  const client = processor.testClient();
  await client.send('x', { id: 'x' });
  t.equal(await moduleLevel.count(), 0);
  t.equal(await client.dlq.count(), 1);
  await client.close();
});

t.test('TestClient from the package root works as processor.testClient does', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {},
  );
  t.ok(processor.testClient() instanceof TestClient);
  const client = new TestClient(processor, { source: 'unit' });
  t.same(await client.send('x'), { outcome: 'acked' });
  t.equal(client.acked[0].meta.source, 'unit');
  await client.close();
});

t.test('after close(), send says the client is closed; close() runs afterProcessing once', async (t) => {
  const processor = new Processor();
  const calls = [];
  processor.afterProcessing(() => calls.push('after'));
  processor.handleFor(
    () => true,
    () => {},
  );
  const client = processor.testClient();
  await client.send('x');
  await client.close();
  await client.close();
  t.same(calls, ['after']);
  await t.rejects(client.send('y'), {
    code: 'MISSIVE_ERR_CLOSED',
    message: /make another with processor\.testClient\(\)/,
  });
});

t.test('close() waits for what was sent: a send not awaited still settles', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => new Promise((resolve) => setTimeout(resolve, 30)),
  );
  const client = processor.testClient();
  const pending = client.send('slow');
  await client.send('other');
  await client.close();
  t.same(await pending, { outcome: 'acked' });
  t.equal(client.handled.length, 2);
});

t.test(
  'work a handler did not await that fails: counted, its message a dead letter, the error in client.errors',
  async (t) => {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      async function forgetful() {
        void Promise.reject(new Error('dropped'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    );
    const client = processor.testClient();
    t.match(await client.send('x'), { outcome: 'dead-lettered', reason: 'unhandled error', error: /Error: dropped/ });
    t.equal(client.unhandledErrors, 1);
    t.match(client.errors, [/handler forgetful started and did not await failed: .*Error: dropped/]);
    await client.close();
  },
);

t.test(
  'clients open side by side: a stray error reaches only the client of its message, through one listener',
  async (t) => {
    const before = process.listenerCount('unhandledRejection');
    const warnings = [];
    const onWarning = (warning) => warnings.push(warning.name);
    process.on('warning', onWarning);
    t.teardown(() => process.off('warning', onWarning));
    const careless = new Processor();
    careless.handleFor(
      () => true,
      async function forgetful() {
        void Promise.reject(new Error('dropped by careless'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      },
    );
    const tidy = new Processor();
    tidy.handleFor(
      () => true,
      async () => {},
    );
    // Node warns of a leak past ten listeners of one event; a suite keeps a client per test open at once.
    const bystanders = Array.from({ length: 11 }, () => tidy.testClient());
    for (const client of bystanders) t.same(await client.send('quiet'), { outcome: 'acked' });
    const client = careless.testClient();
    t.match(await client.send('x'), {
      outcome: 'dead-lettered',
      reason: 'unhandled error',
      error: /dropped by careless/,
    });
    t.equal(client.unhandledErrors, 1);
    t.same(
      bystanders.map((b) => [b.unhandledErrors, b.errors.length]),
      bystanders.map(() => [0, 0]),
      'no other client counts or logs it',
    );
    t.ok(process.listenerCount('unhandledRejection') <= before + 1, 'one listener for all the open clients');
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    t.same(warnings, [], 'no MaxListenersExceededWarning');
    await Promise.all([client.close(), ...bystanders.map((b) => b.close())]);
    t.equal(process.listenerCount('unhandledRejection'), before, 'none added once they are closed');
  },
);

t.test('an error no client can claim is reported by every open client', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {},
  );
  const clients = [processor.testClient(), processor.testClient()];
  for (const client of clients) await client.send('start');
  // A plain function handler runs without an async context, so nothing ties this error to a message.
  setTimeout(() => {
    throw new Error('from nowhere');
  }, 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(
    clients.map((c) => c.unhandledErrors),
    [1, 1],
  );
  t.match(clients[0].errors, [/could not be tied to a message.*from nowhere/]);
  await Promise.all(clients.map((c) => c.close()));
});
