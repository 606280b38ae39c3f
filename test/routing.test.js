// Every routing and settling rule of DESIGN.md section 1, through the test client (no transport, no threads).
import t from 'tap';
import { Processor, JsonMessage, MemoryDlq, Reasons } from 'missive-node';

const isType = (type) => (m) => m.getJson().type === type;

function setup() {
  const processor = new Processor(JsonMessage);
  const dlq = new MemoryDlq();
  processor.setDlq(dlq);
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
  const client = processor.testClient();
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
  const client = processor.testClient();
  const result = await client.send({ type: 'unknown' }, { id: 'u1' });
  t.same(result, { outcome: 'dead-lettered', reason: 'no matching handler', error: null });
  t.notOk(ran);
  t.equal((await dlq.get('u1')).reason, 'no matching handler');
  t.equal(client.deadLettered[0].reason, 'no matching handler');
  t.equal(client.acked.length, 0);
});

t.test('two matches: dead letter "multiple matching handlers", neither handler runs', async (t) => {
  const { processor, dlq } = setup();
  const ran = [];
  processor.handleFor(isType('order'), function a() {
    ran.push('a');
  });
  processor.handleFor((m) => m.getJson().n > 1, function b() {
    ran.push('b');
  });
  const client = processor.testClient();
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
  const client = processor.testClient();
  const result = await client.send(Buffer.from('{not json'), { id: 'bad' });
  t.equal(result.reason, 'decode failed');
  const letter = await dlq.get('bad');
  t.equal(letter.body.toString(), '{not json', 'the original bytes are kept');
  t.match(letter.error, /JsonMessage could not decode/);
});

t.test('a matcher that throws: dead letter "matcher failed" naming the route; routing goes on for others', async (t) => {
  const { processor, dlq } = setup();
  processor.handleFor((m) => m.getJson().deep.field === 1, function deep() {});
  const client = processor.testClient();
  const result = await client.send({ shallow: true }, { id: 'm' });
  t.equal(result.reason, 'matcher failed');
  t.match((await dlq.get('m')).error, /matcher of "deep" threw: TypeError/);
  // The processor still works for the next message.
  processor.handleFor((m) => m.getJson().ok === true, function ok() {});
  t.equal((await client.send({ ok: true, deep: { field: 0 } })).outcome, 'acked');
});

t.test('a handling hook that throws: dead letter "hook failed", handler skipped, afterHandling still runs', async (t) => {
  const { processor, dlq } = setup();
  const calls = [];
  processor.beforeHandling(() => {
    throw new Error('no tenant');
  });
  processor.afterHandling(() => calls.push('after'));
  processor.handleFor(() => true, () => calls.push('handler'));
  const client = processor.testClient();
  const result = await client.send('x', { id: 'h' });
  t.equal(result.reason, 'hook failed');
  t.same(calls, ['after']);
  t.match((await dlq.get('h')).error, /no tenant/);
});

t.test('afterHandling that throws makes an acked message a dead letter', async (t) => {
  const { processor } = setup();
  processor.afterHandling(async () => {
    throw new Error('audit log down');
  });
  processor.handleFor(() => true, () => {});
  const result = await processor.testClient().send('x');
  t.equal(result.reason, 'hook failed');
});

t.test('an async handler that rejects is a dead letter too', async (t) => {
  const { processor } = setup();
  processor.handleFor(() => true, async () => {
    await new Promise((r) => setTimeout(r, 1));
    throw new TypeError('late');
  });
  const result = await processor.testClient().send('x');
  t.equal(result.reason, 'handler failed');
  t.match(result.error, /TypeError: late/);
});

t.test('a handler that returns without settling is acked; explicit ack too', async (t) => {
  const { processor } = setup();
  processor.handleFor((m) => m.getJson() === 1, () => {});
  processor.handleFor((m) => m.getJson() === 2, (m, ctx) => ctx.ack());
  processor.handleFor((m) => m.getJson() === 3, async () => {});
  const client = processor.testClient();
  for (const n of [1, 2, 3]) t.equal((await client.send(n)).outcome, 'acked');
  t.equal(client.acked.length, 3);
  t.same(client.warnings, []);
});

t.test('settling twice settles once and reports the second', async (t) => {
  const processor = new Processor();
  processor.setDlq(new MemoryDlq());
  processor.handleFor((m) => m.rawData.toString() === 'ack-nack', function twice(m, ctx) {
    ctx.ack();
    ctx.nack();
  });
  processor.handleFor((m) => m.rawData.toString() === 'ack-throw', function thrower(m, ctx) {
    ctx.ack();
    throw new Error('after ack');
  });
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
  processor.handleFor(() => true, (m, ctx) => {
    later = ctx;
  });
  const client = processor.testClient();
  t.equal((await client.send('x')).outcome, 'acked');
  later.nack();
  t.match(client.warnings[0], /nack\(\) called after the handler returned/);
});

t.test('nack on a transport that cannot redeliver becomes a dead letter "nacked"', async (t) => {
  const { processor, dlq } = setup();
  processor.handleFor(() => true, (m, ctx) => ctx.nack());
  const client = processor.testClient();
  const result = await client.send('again', { id: 'n1' });
  t.same(result, { outcome: 'nacked', reason: 'nacked', error: null });
  t.equal(client.nacked.length, 1);
  t.equal(client.deadLettered[0].reason, 'nacked');
  t.equal((await dlq.get('n1')).reason, 'nacked');
});

t.test('without a DLQ, send rejects with the failure so the test sees it', async (t) => {
  const processor = new Processor(JsonMessage);
  processor.handleFor(isType('order'), () => {
    throw new Error('bug');
  });
  const client = processor.testClient();
  await t.rejects(client.send({ type: 'order' }), { code: 'MISSIVE_ERR_UNPROCESSABLE', reason: 'handler failed' });
  await t.rejects(client.send({ type: 'other' }), { reason: 'no matching handler', message: /setDlq/ });
  t.same(client.deadLettered, [], 'nothing claims to be stored');
});

t.test('processing hooks run once, on the first send; close() runs afterProcessing', async (t) => {
  const processor = new Processor();
  const calls = [];
  processor.beforeProcessing((p) => {
    calls.push('before');
    p.state.pool = 'open';
  });
  processor.afterProcessing((p) => calls.push(`after:${p.state.pool}`));
  processor.handleFor(() => true, (m, ctx) => calls.push(`handle:${ctx.processing.state.pool}`));
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
  processor.handleFor(() => true, () => {});
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
  processor.handleFor(() => true, (m, ctx) => {
    seen = {
      state: ctx.state.startedBy,
      headers: ctx.delivery.headers,
      source: ctx.delivery.source,
      aborted: ctx.signal.aborted,
      attempt: ctx.attempt,
      id: m.id,
    };
  });
  const client = processor.testClient({ source: 'unit' });
  await client.send('x', { id: 'abc', meta: { headers: { tenant: 't1' } } });
  t.same(seen, { state: 'hook', headers: { tenant: 't1' }, source: 'unit', aborted: false, attempt: 1, id: 'abc' });
});

t.test('dead letters carry source, headers and the processor fingerprint', async (t) => {
  const processor = new Processor(JsonMessage, { name: 'billing' });
  const dlq = new MemoryDlq();
  processor.setDlq(dlq);
  await processor.testClient().send({}, { id: 'f', meta: { headers: { a: 1 } } });
  const letter = await dlq.get('f');
  t.equal(letter.source, 'test');
  t.same(letter.headers, { headers: { a: 1 } });
  t.equal(letter.fingerprint.name, 'billing');
  t.equal(letter.fingerprint.pid, process.pid);
  t.equal(letter.attempts, 1);
});
