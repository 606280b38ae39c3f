// The NATS JetStream adapter against a real nats-server -js: what the conformance suite does not cover. Metadata,
// creating (or only checking) the stream and the consumer, --max-deliveries ending in a dead letter and a
// terminated message, and the in-flight cap bounding what the server has handed out.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { connect, headers as natsHeaders } from 'nats';
import { MemoryDlq, Processor, run } from 'missive-node';
import { NatsAdapter } from '../../dist/adapters/nats.js';
import { natsSpec } from '../../dist/adapters/nats-spec.js';
import { NATS_URL, needNats } from '../helpers/brokers.js';
import { sleep } from '../helpers/http-clients.js';
import { until } from '../helpers/until.js';

/** A client, and a fresh stream name and subject, deleted after the test. */
async function withNats(t) {
  const nc = await connect({ servers: new URL(NATS_URL).host });
  const jsm = await nc.jetstreamManager();
  const stream = `nats-test-${randomUUID()}`;
  const subject = `nats-test.${stream}`;
  t.teardown(async () => {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });
  return { nc, jsm, js: nc.jetstream(), stream, subject };
}

const options = { threads: 0, batchSize: 10, lingerMs: 1 };

t.test('NATS JetStream', await needNats(), async (t) => {
  t.test(
    'creates the stream from its subjects and a durable explicit-ack consumer, then delivers with metadata',
    async (t) => {
      const { js, jsm, stream, subject } = await withNats(t);
      const seen = [];
      const processor = new Processor();
      processor.handleFor(
        () => true,
        (m, ctx) => void seen.push({ id: m.id, body: m.rawData.toString(), delivery: ctx.delivery }),
      );
      const logs = [];
      const adapter = new NatsAdapter({
        url: NATS_URL,
        stream,
        subjects: [`${subject}.>`],
        consumer: 'billing',
        log: (level, message) => logs.push(message),
      });
      const running = await run(processor, { ...options, adapter, dlq: new MemoryDlq() });
      const info = await jsm.streams.info(stream);
      t.same(info.config.subjects, [`${subject}.>`], 'stream created with the given subjects');
      const consumer = await jsm.consumers.info(stream, 'billing');
      t.equal(consumer.config.durable_name, 'billing');
      t.equal(consumer.config.ack_policy, 'explicit');
      t.equal(consumer.config.ack_wait, 30_000 * 1_000_000, 'ack_wait 30 s');
      t.ok(
        logs.some((line) => line.includes(`created the stream "${stream}"`)),
        'says it created the stream',
      );

      const h = natsHeaders();
      h.append('Trace-Id', 't-1');
      h.append('Tag', 'a');
      h.append('Tag', 'b');
      const ack = await js.publish(`${subject}.eu`, Buffer.from('{"n":1}'), { headers: h });
      await until(() => seen.length === 1, 'the message handled');
      await running.stop();
      const [{ id, body, delivery }] = seen;
      t.equal(body, '{"n":1}');
      t.equal(id, String(ack.seq), 'the id is the stream sequence');
      t.match(delivery, {
        source: `nats:${stream}`,
        stream,
        consumer: 'billing',
        subject: `${subject}.eu`,
        streamSequence: ack.seq,
        deliveryCount: 1,
        redelivered: false,
        headers: { 'Trace-Id': 't-1', Tag: ['a', 'b'] },
      });
      t.ok(Math.abs(delivery.timestampMs - Date.now()) < 60_000, 'timestamp in ms');
      const after = await jsm.consumers.info(stream, 'billing');
      t.equal(after.num_ack_pending + after.num_pending, 0, 'acked at the server');
    },
  );

  t.test('an existing consumer is reused: a second run resumes after what the first acked', async (t) => {
    const { js, jsm, stream, subject } = await withNats(t);
    await jsm.streams.add({ name: stream, subjects: [subject] });
    const handled = [];
    const processor = new Processor();
    processor.handleFor(
      () => true,
      (m) => void handled.push(m.rawData.toString()),
    );
    for (const [round, bodies] of [
      ['first', ['a', 'b']],
      ['second', ['c']],
    ]) {
      for (const body of bodies) await js.publish(subject, Buffer.from(body));
      const running = await run(processor, {
        ...options,
        adapter: new NatsAdapter({ url: NATS_URL, stream }),
        dlq: new MemoryDlq(),
      });
      await until(() => handled.length === (round === 'first' ? 2 : 3), `${round} run handled its messages`);
      await running.stop();
    }
    t.same(handled, ['a', 'b', 'c'], 'each message once, across both runs');
    t.equal((await jsm.consumers.info(stream, 'missive')).config.durable_name, 'missive', 'default consumer name');
  });

  t.test('--passive creates nothing, a missing stream without subjects is an error that says what to do', async (t) => {
    const { jsm, stream } = await withNats(t);
    const processor = new Processor();
    processor.handleFor(
      () => true,
      () => {},
    );
    await t.rejects(
      run(processor, { ...options, adapter: new NatsAdapter({ url: NATS_URL, stream, passive: true }) }),
      {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: new RegExp(
          `the stream "${stream}" does not exist at nats://127\\.0\\.0\\.1:4222.*--passive creates nothing`,
        ),
      },
    );
    await t.rejects(run(processor, { ...options, adapter: new NatsAdapter({ url: NATS_URL, stream }) }), {
      code: 'MISSIVE_ERR_TRANSPORT',
      message: /give the subjects to create it with \(--subject/,
    });
    await t.rejects(jsm.streams.info(stream), /stream not found/, 'still no stream');
    await jsm.streams.add({ name: stream, subjects: [`p.${stream}`] });
    await t.rejects(
      run(processor, { ...options, adapter: new NatsAdapter({ url: NATS_URL, stream, passive: true }) }),
      {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: /the consumer "missive" of the stream .* does not exist/,
      },
    );
    await t.rejects(jsm.consumers.info(stream, 'missive'), /consumer not found/, 'still no consumer');
  });

  t.test('a push consumer under the name is refused with what to change', async (t) => {
    const { jsm, stream, subject } = await withNats(t);
    await jsm.streams.add({ name: stream, subjects: [subject] });
    await jsm.consumers.add(stream, {
      durable_name: 'pushed',
      ack_policy: 'explicit',
      deliver_subject: `deliver.${stream}`,
    });
    const processor = new Processor();
    processor.handleFor(
      () => true,
      () => {},
    );
    await t.rejects(
      run(processor, { ...options, adapter: new NatsAdapter({ url: NATS_URL, stream, consumer: 'pushed' }) }),
      {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: /is a push consumer; this adapter pulls: give another --consumer name/,
      },
    );
  });

  t.test(
    'past --max-deliveries a message is a dead letter "too many deliveries", terminated: never delivered again',
    async (t) => {
      const { js, jsm, stream, subject } = await withNats(t);
      await jsm.streams.add({ name: stream, subjects: [subject] });
      const deliveryCounts = [];
      const processor = new Processor();
      processor.handleFor(
        () => true,
        (m, ctx) => {
          if (m.rawData.toString() === 'ok') return;
          deliveryCounts.push(ctx.delivery.deliveryCount);
          ctx.nack();
        },
      );
      const dlq = new MemoryDlq();
      const adapter = new NatsAdapter({ url: NATS_URL, stream, maxDeliveries: 3 });
      const running = await run(processor, { ...options, adapter, dlq });
      await js.publish(subject, Buffer.from('poison'));
      await js.publish(subject, Buffer.from('ok'));
      await until(async () => (await dlq.count()) === 1, 'the dead letter');
      // Long enough for a redelivery that should not happen (a nak is redelivered at once).
      await sleep(500);
      const stats = await running.stop();
      t.same(deliveryCounts, [1, 2, 3], 'handled on each of the 3 deliveries allowed, with the server count');
      const [letter] = await dlq.list();
      t.equal(letter.reason, 'too many deliveries');
      t.match(letter.error, /delivered 4 times \(--max-deliveries 3\)/);
      t.equal(letter.body.toString(), 'poison');
      t.equal(stats.nacked, 3);
      t.equal(stats.acked, 1);
      const info = await jsm.consumers.info(stream, 'missive');
      t.equal(
        info.num_ack_pending + info.num_pending + info.num_redelivered,
        0,
        'terminated: nothing pending at the server',
      );
      t.equal(info.delivered.consumer_seq, 5, 'four deliveries of the poison message and one of ok, no more');
    },
  );

  t.test(
    'dead letters are terminated once stored (the server says so), handled messages acked; too large is a dead letter',
    async (t) => {
      const { nc, js, jsm, stream, subject } = await withNats(t);
      await jsm.streams.add({ name: stream, subjects: [subject] });
      const terminated = [];
      const advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${stream}.missive`, {
        callback: (error, msg) => void (error || terminated.push(msg.json().stream_seq)),
      });
      t.teardown(() => advisories.unsubscribe());
      await nc.flush();
      const processor = new Processor();
      processor.handleFor(
        (m) => m.rawData.toString() !== 'unrouted',
        () => {},
      );
      const dlq = new MemoryDlq();
      const running = await run(processor, {
        ...options,
        adapter: new NatsAdapter({ url: NATS_URL, stream, maxMessageBytes: 1024 }),
        dlq,
      });
      const ok = await js.publish(subject, Buffer.from('fine'));
      const unrouted = await js.publish(subject, Buffer.from('unrouted'));
      const large = await js.publish(subject, Buffer.alloc(4096, 'x'));
      await until(() => terminated.length === 2, 'two terminated advisories');
      await running.stop();
      t.same(
        terminated.sort(),
        [unrouted.seq, large.seq].sort(),
        'the two dead letters were terminated, not the handled one',
      );
      const reasons = (await dlq.list()).map((letter) => [letter.id, letter.reason, letter.body.length]).sort();
      t.same(
        reasons,
        [
          [String(large.seq), 'message too large', 1024],
          [String(unrouted.seq), 'no matching handler', 8],
        ].sort(),
      );
      const info = await jsm.consumers.info(stream, 'missive');
      t.equal(info.num_ack_pending + info.num_pending, 0, 'all three settled at the server');
      t.equal(info.ack_floor.stream_seq, Math.max(ok.seq, unrouted.seq, large.seq));
    },
  );

  t.test('the in-flight cap bounds what is fetched: the server never has more than the cap handed out', async (t) => {
    const { js, jsm, stream, subject } = await withNats(t);
    await jsm.streams.add({ name: stream, subjects: [subject] });
    for (let i = 0; i < 100; i++) await js.publish(subject, Buffer.from(`m-${i}`));
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    let started = 0;
    const processor = new Processor();
    processor.handleFor(
      () => true,
      async () => {
        started++;
        await gate;
      },
    );
    const running = await run(processor, {
      ...options,
      batchSize: 5,
      maxInFlight: 10,
      adapter: new NatsAdapter({ url: NATS_URL, stream }),
      dlq: new MemoryDlq(),
    });
    await until(() => started > 0, 'handlers started');
    await sleep(300);
    const held = await jsm.consumers.info(stream, 'missive');
    t.ok(
      held.num_ack_pending > 0 && held.num_ack_pending <= 10,
      `at most 10 handed out by the server (${held.num_ack_pending})`,
    );
    t.equal(held.num_pending, 100 - held.num_ack_pending, 'the rest not even delivered');
    t.ok(running.stats.received <= 10, `at most 10 received (${running.stats.received})`);
    release();
    await until(() => running.stats.acked === 100, 'all acked once released');
    await running.stop();
    const after = await jsm.consumers.info(stream, 'missive');
    t.equal(after.num_ack_pending + after.num_pending, 0);
    t.equal(after.num_redelivered, 0, 'nothing was redelivered: none fetched beyond the cap and given back');
  });

  t.test(
    'stop closes the pull under way: a message published meanwhile goes to the next consumer at once, not after ack_wait',
    async (t) => {
      const { js, jsm, stream, subject } = await withNats(t);
      await jsm.streams.add({ name: stream, subjects: [subject] });
      const handled = [];
      const processor = new Processor();
      processor.handleFor(
        () => true,
        (m) => void handled.push(m.rawData.toString()),
      );
      // A pull that would wait a minute: left open, it would take the next message and hold it past stop().
      const adapter = new NatsAdapter({ url: NATS_URL, stream, fetchWaitMs: 60_000 });
      const running = await run(processor, { ...options, adapter, dlq: new MemoryDlq() });
      t.teardown(() => running.kill());
      await js.publish(subject, Buffer.from('before'));
      await until(() => handled.length === 1, 'the first message');
      const stopping = running.stop();
      // Once the server has read what stop() sent, whatever is published goes by what it knows.
      await adapter.client.flush();
      await js.publish(subject, Buffer.from('during'));
      const stats = await stopping;
      t.equal(stats.received, 1, 'nothing read after stop');
      // A second consumer of the same durable gets it at once, not after the 30 s ack_wait.
      const again = [];
      const second = new Processor();
      second.handleFor(
        () => true,
        (m) => void again.push(m.rawData.toString()),
      );
      const next = await run(second, {
        ...options,
        adapter: new NatsAdapter({ url: NATS_URL, stream }),
        dlq: new MemoryDlq(),
      });
      t.teardown(() => next.kill());
      await until(() => again.length === 1, 'the message published while stopping', 10_000);
      await next.stop();
      t.same(again, ['during']);
    },
  );

  t.test('an unreachable server fails open with the URL, without its password', async (t) => {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      () => {},
    );
    const adapter = new NatsAdapter({ url: 'nats://me:hunter2@127.0.0.1:1', stream: 's', connectAttempts: 2 });
    const error = await run(processor, { ...options, adapter }).catch((e) => e);
    t.equal(error.code, 'MISSIVE_ERR_TRANSPORT');
    t.match(error.message, /cannot connect to NATS at nats:\/\/me:\*\*\*@127\.0\.0\.1:1 after 2 attempts/);
    t.notMatch(error.message, /hunter2/);
  });
});

t.test('options are checked before anything connects', async (t) => {
  t.throws(() => new NatsAdapter({ stream: 'a.b' }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /cannot be a JetStream stream name/,
  });
  t.throws(() => new NatsAdapter({ stream: 's', consumer: 'c*' }), { message: /cannot be a JetStream consumer name/ });
  t.throws(() => new NatsAdapter({ url: 'redis://x', stream: 's' }), {
    message: /is not a NATS URL; it must start with nats:\/\//,
  });
  t.throws(() => new NatsAdapter({ stream: 's', fetchWaitMs: 10 }), {
    message: /fetchWaitMs must be a whole number of at least 1000/,
  });
  t.throws(() => new NatsAdapter({ stream: 's', maxDeliveries: 0 }), { message: /maxDeliveries/ });
  const common = { maxMessageBytes: 1024, log: () => {} };
  t.throws(() => natsSpec.create({}, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--adapter nats needs --stream NAME/,
  });
  t.throws(() => natsSpec.create({ stream: 's', 'max-deliveries': 'x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--max-deliveries takes a whole number/,
  });
  t.throws(() => natsSpec.create({ stream: 's', passive: true, subject: ['a'] }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--passive creates nothing/,
  });
  t.throws(() => natsSpec.create({ stream: 'a b' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /cannot be a JetStream stream name/,
  });
  t.throws(() => natsSpec.create({ stream: 's', 'nats-url': 'http://x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--nats-url: /,
  });
  const adapter = natsSpec.create({ stream: 's', subject: ['a.>'], consumer: 'c', 'ack-wait': '5000' }, common);
  t.equal(adapter.name, 'nats');
  t.equal(adapter.canRequeue, true);
  t.equal(adapter.stream, 's');
  t.equal(adapter.consumer, 'c');
});

t.test('a server restart: the client reconnects, pulls resume, every message is handled', async (t) => {
  // A server of our own, so that restarting it disturbs no one else's.
  const { spawn, execFileSync } = await import('node:child_process');
  const { createServer } = await import('node:net');
  let binary;
  try {
    binary = execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
  } catch {
    if (process.env.CI === 'true') throw new Error('CI=true and nats-server is not installed');
    t.skip('nats-server is not installed');
    return;
  }
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const store = t.testdir();
  const start = async () => {
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await until(async () => {
      try {
        await (await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 })).close();
        return true;
      } catch {
        return false;
      }
    }, 'the server up');
    return { child, exited };
  };
  let server = await start();
  t.teardown(() => server.child.kill('SIGKILL'));
  const url = `nats://127.0.0.1:${port}`;
  const stream = 'restart';
  const handled = new Set();
  const processor = new Processor();
  processor.handleFor(
    () => true,
    (m) => void handled.add(m.rawData.toString()),
  );
  const logs = [];
  const adapter = new NatsAdapter({
    url,
    stream,
    subjects: ['restart.>'],
    fetchWaitMs: 1000,
    log: (level, message) => logs.push(`${level} ${message}`),
  });
  const running = await run(processor, { ...options, adapter, dlq: new MemoryDlq() });
  t.teardown(() => running.kill());
  const publish = async (from, to) => {
    const nc = await connect({ servers: `127.0.0.1:${port}` });
    const js = nc.jetstream();
    for (let i = from; i < to; i++) await js.publish('restart.x', Buffer.from(`m-${i}`));
    await nc.close();
  };
  await publish(0, 50);
  await until(() => handled.size === 50, 'the first 50 handled');

  server.child.kill('SIGTERM');
  await server.exited;
  server = await start();
  await publish(50, 100);
  await until(() => handled.size === 100, 'the 50 published after the restart handled', 60_000);
  const stats = await running.stop();
  t.equal(stats.unsettled, 0);
  t.ok(
    logs.some((line) => line.startsWith('warn lost the connection to NATS')),
    'the disconnect is logged',
  );
  t.ok(
    logs.some((line) => line.startsWith('info reconnected to NATS')),
    'and the reconnect',
  );
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const info = await (await nc.jetstreamManager()).consumers.info(stream, 'missive');
  await nc.close();
  t.equal(info.num_pending + info.num_ack_pending, 0, 'everything acked at the server');
});
