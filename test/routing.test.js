// Every routing and settling rule of DESIGN.md section 1, through the test client (the in-memory transport,
// handlers in this thread).
import t from 'tap';
import { Processor, JsonMessage, MemoryDlq, Reasons } from 'missive-node';

const isType = (type) => (m) => m.getJson().type === type;

function setup() {
  const processor = new Processor(JsonMessage);
  const dlq = new MemoryDlq();
  return { processor, dlq };
}

t.test('exactly one match runs that handler, with handling hooks around it, and acks', async (t) => {
  const { processor } = setup();
  const calls = [];
  processor.beforeHandling((m, ctx) => calls.push(`before:${ctx.handler}`));
  processor.afterHandling((m, ctx) => calls.push(`after:${ctx.handler}:${ctx.error === undefined}`));
  processor.handleFor(isType('order'), function order(m) {
    calls.push(`order:${m.getJson().n}`);
  });
  processor.handleFor(isType('refund'), function refund() {
    calls.push('refund');
  });
  const client = processor.testClient();
  t.same(await client.send({ type: 'order', n: 7 }), { outcome: 'acked' });
  t.same(calls, ['before:order', 'order:7', 'after:order:true']);
  t.equal(client.acked.length, 1);
  t.same(client.acked[0].getJson(), { type: 'order', n: 7 });
  t.equal(client.deadLettered.length, 0);
});

t.test('afterHandling runs even when the handler throws, and sees the error', async (t) => {
  const { processor, dlq } = setup();
  let seen;
  processor.afterHandling((m, ctx) => {
    seen = ctx.error;
  });
  processor.handleFor(isType('order'), function boom() {
    throw new Error('disk full');
  });
  const client = processor.testClient({ dlq });
  const result = await client.send({ type: 'order' }, { id: 'm1' });
  t.equal(result.outcome, 'dead-lettered');
  t.equal(result.reason, Reasons.handlerFailed);
  t.equal(seen?.message, 'disk full');
  const letter = await dlq.get('m1');
  t.equal(letter.reason, 'handler failed');
  t.equal(letter.handler, 'boom');
  t.match(letter.error, /^Error: disk full\n\s+at /, 'message and stack are kept');
});

t.test('no match: dead letter "no matching handler", no handler runs', async (t) => {
  const { processor, dlq } = setup();
  let ran = false;
  processor.handleFor(isType('order'), () => {
    ran = true;
  });
  const client = processor.testClient({ dlq });
  const result = await client.send({ type: 'unknown' }, { id: 'u1' });
  t.same(result, { outcome: 'dead-lettered', reason: 'no matching handler', error: null });
  t.notOk(ran);
  t.equal((await dlq.get('u1')).reason, 'no matching handler');
  t.equal(client.deadLettered[0].reason, 'no matching handler');
  t.equal(client.handled.length, 0);
  t.same(
    client.acked.map((m) => m.id),
    ['u1'],
    'the transport acks a message once its dead letter is stored',
  );
});

t.test('two matches: dead letter "multiple matching handlers", neither handler runs', async (t) => {
  const { processor, dlq } = setup();
  const ran = [];
  processor.handleFor(isType('order'), function a() {
    ran.push('a');
  });
  processor.handleFor(
    (m) => m.getJson().n > 1,
    function b() {
      ran.push('b');
    },
  );
  const client = processor.testClient({ dlq });
  const result = await client.send({ type: 'order', n: 5 }, { id: 'dup' });
  t.equal(result.reason, 'multiple matching handlers');
  t.same(ran, []);
  const letter = await dlq.get('dup');
  t.match(letter.error, /"a" and "b"/);
  t.equal(letter.handler, null, 'no handler was chosen');
});

t.test('bytes that are not JSON: dead letter "decode failed" with the parse error', async (t) => {
  const { processor, dlq } = setup();
  processor.handleFor(isType('order'), () => {});
  const client = processor.testClient({ dlq });
  const result = await client.send(Buffer.from('{not json'), { id: 'bad' });
  t.equal(result.reason, 'decode failed');
  const letter = await dlq.get('bad');
  t.equal(letter.body.toString(), '{not json', 'the original bytes are kept');
  t.match(letter.error, /JsonMessage could not decode/);
});

t.test(
  'a matcher that throws: dead letter "matcher failed" naming the route; routing goes on for others',
  async (t) => {
    const { processor, dlq } = setup();
    processor.handleFor(
      (m) => m.getJson().deep.field === 1,
      function deep() {},
    );
    const client = processor.testClient({ dlq });
    const result = await client.send({ shallow: true }, { id: 'm' });
    t.equal(result.reason, 'matcher failed');
    t.match((await dlq.get('m')).error, /matcher of "deep" threw: TypeError/);
    // The processor still works for the next message.
    processor.handleFor(
      (m) => m.getJson().ok === true,
      function ok() {},
    );
    t.equal((await client.send({ ok: true, deep: { field: 0 } })).outcome, 'acked');
  },
);

t.test(
  'a handling hook that throws: dead letter "hook failed", handler skipped, afterHandling still runs',
  async (t) => {
    const { processor, dlq } = setup();
    const calls = [];
    processor.beforeHandling(() => {
      throw new Error('no tenant');
    });
    processor.afterHandling(() => calls.push('after'));
    processor.handleFor(
      () => true,
      () => calls.push('handler'),
    );
    const client = processor.testClient({ dlq });
    const result = await client.send('x', { id: 'h' });
    t.equal(result.reason, 'hook failed');
    t.same(calls, ['after']);
    t.match((await dlq.get('h')).error, /no tenant/);
  },
);

t.test('afterHandling that throws makes an acked message a dead letter', async (t) => {
  const { processor } = setup();
  processor.afterHandling(async () => {
    throw new Error('audit log down');
  });
  processor.handleFor(
    () => true,
    () => {},
  );
  const result = await processor.testClient().send('x');
  t.equal(result.reason, 'hook failed');
});

t.test('an async handler that rejects is a dead letter too', async (t) => {
  const { processor } = setup();
  processor.handleFor(
    () => true,
    async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new TypeError('late');
    },
  );
  const result = await processor.testClient().send('x');
  t.equal(result.reason, 'handler failed');
  t.match(result.error, /TypeError: late/);
});

t.test('a handler that returns without settling is acked; explicit ack too', async (t) => {
  const { processor } = setup();
  processor.handleFor(
    (m) => m.getJson() === 1,
    () => {},
  );
  processor.handleFor(
    (m) => m.getJson() === 2,
    (m, ctx) => ctx.ack(),
  );
  processor.handleFor(
    (m) => m.getJson() === 3,
    async () => {},
  );
  const client = processor.testClient();
  for (const n of [1, 2, 3]) t.equal((await client.send(n)).outcome, 'acked');
  t.equal(client.acked.length, 3);
  t.same(client.warnings, []);
});

t.test('settling twice settles once and reports the second', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    (m) => m.rawData.toString() === 'ack-nack',
    function twice(m, ctx) {
      ctx.ack();
      ctx.nack();
    },
  );
  processor.handleFor(
    (m) => m.rawData.toString() === 'ack-throw',
    function thrower(m, ctx) {
      ctx.ack();
      throw new Error('after ack');
    },
  );
  const client = processor.testClient();
  t.equal((await client.send('ack-nack')).outcome, 'acked');
  t.equal(client.nacked.length, 0, 'the nack was ignored');
  t.match(client.warnings[0], /twice: nack\(\) called after ack\(\)/);
  t.equal((await client.send('ack-throw')).outcome, 'acked', 'the explicit ack stands');
  t.match(client.warnings[1], /thrower: handler failed after the handler settled the message \(ack stands\)/);
  t.equal(client.acked.length, 2);
});

t.test('a settle after the handler returned is reported and ignored', async (t) => {
  const { processor } = setup();
  let later;
  processor.handleFor(
    () => true,
    (m, ctx) => {
      later = ctx;
    },
  );
  const client = processor.testClient();
  t.equal((await client.send('x')).outcome, 'acked');
  later.nack();
  t.match(client.warnings[0], /nack\(\) called after the handler returned/);
});

t.test(
  'a nacked message is delivered again; past maxDeliveries it becomes a dead letter "too many deliveries"',
  async (t) => {
    const { processor, dlq } = setup();
    const counts = [];
    processor.handleFor(
      () => true,
      (m, ctx) => {
        counts.push(ctx.delivery.deliveryCount);
        ctx.nack();
      },
    );
    const client = processor.testClient({ dlq, maxDeliveries: 2 });
    const result = await client.send('again', { id: 'n1' });
    t.same(result, {
      outcome: 'dead-lettered',
      reason: 'too many deliveries',
      error: 'delivered 3 times (maxDeliveries 2)',
    });
    t.same(counts, [1, 2], 'the handler ran on each delivery up to the limit');
    t.same(
      client.nacked.map((m) => m.meta.deliveryCount),
      [1, 2],
    );
    t.equal(client.deadLettered[0].reason, 'too many deliveries');
    t.equal((await dlq.get('n1')).reason, 'too many deliveries');
    await client.close();
  },
);

t.test(
  'given no store, a client has its own: send resolves "dead-lettered", and setDlq on the processor is not used',
  async (t) => {
    const processor = new Processor(JsonMessage);
    const processorStore = new MemoryDlq();
    processor.setDlq(processorStore);
    processor.handleFor(isType('order'), () => {
      throw new Error('bug');
    });
    const client = processor.testClient();
    t.match(await client.send({ type: 'order' }, { id: 'o' }), {
      outcome: 'dead-lettered',
      reason: 'handler failed',
      error: /Error: bug/,
    });
    t.match(await client.send({ type: 'other' }, { id: 'x' }), {
      outcome: 'dead-lettered',
      reason: 'no matching handler',
    });
    t.same((await client.dlq.list()).map((l) => l.id).sort(), ['o', 'x'], "stored in the client's own store");
    t.equal(await processorStore.count(), 0, 'the processor-level store is left alone');
    t.equal(await processor.testClient().dlq.count(), 0, 'another client starts empty');
  },
);

t.test('processing hooks run once, on the first send; close() runs afterProcessing', async (t) => {
  const processor = new Processor();
  const calls = [];
  processor.beforeProcessing((p) => {
    calls.push('before');
    p.state.pool = 'open';
  });
  processor.afterProcessing((p) => calls.push(`after:${p.state.pool}`));
  processor.handleFor(
    () => true,
    (m, ctx) => calls.push(`handle:${ctx.processing.state.pool}`),
  );
  const client = processor.testClient();
  t.same(calls, [], 'nothing runs before the first send');
  await client.send('a');
  await client.send('b');
  await client.close();
  await client.close();
  t.same(calls, ['before', 'handle:open', 'handle:open', 'after:open']);
});

t.test('a failing beforeProcessing hook rejects send with a clear error', async (t) => {
  const processor = new Processor();
  processor.beforeProcessing(() => {
    throw new Error('db unreachable');
  });
  processor.handleFor(
    () => true,
    () => {},
  );
  await t.rejects(processor.testClient().send('x'), {
    code: 'MISSIVE_ERR_PROCESSING_HOOK',
    message: /beforeProcessing hook failed: db unreachable/,
  });
});

t.test('handler context: per-message state, delivery metadata, signal, attempt', async (t) => {
  const processor = new Processor();
  processor.beforeHandling((m, ctx) => {
    ctx.state.startedBy = 'hook';
  });
  let seen;
  processor.handleFor(
    () => true,
    (m, ctx) => {
      seen = {
        state: ctx.state.startedBy,
        headers: ctx.delivery.headers,
        source: ctx.delivery.source,
        aborted: ctx.signal.aborted,
        attempt: ctx.attempt,
        id: m.id,
      };
    },
  );
  const client = processor.testClient({ source: 'unit' });
  await client.send('x', { id: 'abc', meta: { headers: { tenant: 't1' } } });
  t.same(seen, { state: 'hook', headers: { tenant: 't1' }, source: 'unit', aborted: false, attempt: 1, id: 'abc' });
});

t.test('dead letters carry source, headers and the processor fingerprint', async (t) => {
  const processor = new Processor(JsonMessage, { name: 'billing' });
  const dlq = new MemoryDlq();
  await processor.testClient({ dlq }).send({}, { id: 'f', meta: { headers: { a: 1 } } });
  const letter = await dlq.get('f');
  t.equal(letter.source, 'test');
  t.same(letter.headers, { headers: { a: 1 }, deliveryCount: 1 }, 'transport metadata, the delivery count included');
  t.equal(letter.fingerprint.name, 'billing');
  t.equal(letter.fingerprint.pid, process.pid);
  t.equal(letter.attempts, 1);
});
