// The RabbitMQ adapter against a real broker, driven through the Adapter interface (open → read → ack/nack):
// delivery metadata, acks and nacks as the broker sees them, prefetch as the window, bindings, passive checks,
// replies, a forcibly closed connection, and an unreachable broker. The ack grouping is checked without a broker.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { AmqpAdapter } from '../../dist/adapters/amqp.js';
import { amqpSpec } from '../../dist/adapters/amqp-spec.js';
import { DeliveryTags } from '../../dist/adapters/amqp-acks.js';
import { AMQP_URL, needAmqp } from '../helpers/brokers.js';
import { closeConnectionsNamed, queueCounts } from '../helpers/rabbitmqctl.js';
import { sleep } from '../helpers/http-clients.js';

const common = { maxMessageBytes: 1024 * 1024, log: () => {} };

/** An admin connection, fresh queue names deleted after, and adapters closed after. */
async function setup(t) {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  const queues = [];
  const exchanges = [];
  const adapters = [];
  t.teardown(async () => {
    await Promise.all(adapters.map((adapter) => adapter.close().catch(() => {})));
    for (const queue of queues) await channel.deleteQueue(queue).catch(() => {});
    for (const exchange of exchanges) await channel.deleteExchange(exchange).catch(() => {});
    await connection.close().catch(() => {});
  });
  return {
    channel,
    /** A fresh queue name, declared durable (as the adapter declares it) unless `declare` is false. */
    async queue(prefix = 'q', { declare = true, ...options } = {}) {
      const name = `missive-test-${prefix}-${randomUUID()}`;
      queues.push(name);
      if (declare) await channel.assertQueue(name, { durable: true, ...options });
      return name;
    },
    exchange() {
      const name = `missive-test-x-${randomUUID()}`;
      exchanges.push(name);
      return name;
    },
    adapter(options) {
      const logs = [];
      const adapter = new AmqpAdapter({
        url: AMQP_URL,
        connectionName: `missive-test-${randomUUID()}`,
        retryDelayMs: 20,
        maxRetryDelayMs: 200,
        log: (level, message, fields) => logs.push({ level, message, fields }),
        ...options,
      });
      adapter.logs = logs;
      adapters.push(adapter);
      return adapter;
    },
    async publish(queue, count, options = (i) => ({ messageId: `m-${i}` })) {
      for (let i = 0; i < count; i++) channel.sendToQueue(queue, Buffer.from(`body-${i}`), options(i));
      await channel.waitForConfirms();
    },
  };
}

/** Collects every delivery the stream emits, without ending it. */
function collect(readable) {
  const deliveries = [];
  let batches = 0;
  readable.on('data', (batch) => {
    batches++;
    deliveries.push(...batch);
  });
  return {
    deliveries,
    get batches() {
      return batches;
    },
    /** Waits until at least `count` deliveries arrived in all. */
    async until(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (deliveries.length < count) {
        if (Date.now() > deadline) throw new Error(`${deliveries.length} deliveries, expected ${count}`);
        await sleep(10);
      }
      return deliveries.splice(0, deliveries.length);
    },
  };
}

/** Waits until the broker's counts of `queue` are `expected` (its figures follow acks within milliseconds). */
async function countsBecome(queue, expected, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await queueCounts(queue);
    if (last && last.ready === expected.ready && last.unacked === expected.unacked) return last;
    await sleep(100);
  }
  return last;
}

/**
 * A TCP proxy in front of RabbitMQ, to do to the adapter's connection what the broker's own tools cannot: `hold()`
 * drops what the client sends (its acks never arrive), `cut()` breaks every connection at once, `refuse(true)`
 * breaks each new one as it comes (the broker is unreachable) until `refuse(false)`.
 */
async function startProxy(t, target = new URL(AMQP_URL)) {
  const pairs = new Set();
  let refusing = false;
  let holding = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5672), target.hostname);
    const pair = { client, upstream, held: holding };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.held) upstream.write(chunk);
    });
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    url: `amqp://${target.username}:${target.password}@127.0.0.1:${server.address().port}${target.pathname === '/' ? '' : target.pathname}`,
    hold() {
      holding = true;
      for (const pair of pairs) pair.held = true;
    },
    /** Breaks every connection; new ones pass what they send again. */
    cut() {
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      holding = false;
    },
    refuse(on) {
      refusing = on;
    },
  };
  t.teardown(() => {
    proxy.cut();
    server.close();
  });
  return proxy;
}

t.test('ack grouping: multiple only when every older unsettled tag is settled with it', async (t) => {
  const frames = (tags, settle) => {
    const sent = [];
    const skipped = tags.settle(settle, (tag, multiple) => sent.push([tag, multiple]));
    return { sent, skipped };
  };
  const tags = new DeliveryTags();
  for (let tag = 1; tag <= 10; tag++) tags.add(tag);
  t.same(frames(tags, [3, 1, 2]).sent, [[3, true]], 'the oldest three in any order: one multiple frame');
  t.same(
    frames(tags, [6, 7]).sent,
    [
      [6, false],
      [7, false],
    ],
    'tags 4 and 5 are still out: one frame each',
  );
  t.same(frames(tags, [5, 4]).sent, [[5, true]], 'tags below the settled 6 and 7 are covered by a multiple up to 5');
  t.same(frames(tags, [8]).sent, [[8, false]], 'a single tag is never sent as multiple');
  t.same(frames(tags, [8, 9]), { sent: [[9, false]], skipped: 1 }, 'a tag settled twice is skipped, not sent');
  t.same(frames(tags, [10]).sent, [[10, false]]);
  t.equal(tags.size, 0);
  t.equal(tags.frames, 7);
});

/**
 * Settles `tags` through `deliveryTags` against a model of what the broker holds unacked: a frame may only settle
 * tags of this call, and every tag of this call that was unsettled must end up settled.
 */
function settleOnBroker(t, broker, deliveryTags, tags) {
  const asked = new Set(tags);
  const owed = [...asked].filter((tag) => broker.has(tag));
  let ok = true;
  const skipped = deliveryTags.settle(tags, (tag, multiple) => {
    const covered = multiple ? [...broker].filter((held) => held <= tag) : [tag];
    for (const held of covered) {
      if (!broker.has(held) || !asked.has(held)) ok = false;
      broker.delete(held);
    }
  });
  for (const tag of owed) if (broker.has(tag)) ok = false;
  if (!ok) t.fail(`settling ${tags.length} tags (${tags.slice(0, 5).join(', ')}...) settled the wrong ones`);
  return { skipped, owed: owed.length };
}

t.test('ack grouping stays exact when one tag is held while far more than the flag window pass', async (t) => {
  const broker = new Set();
  const tags = new DeliveryTags();
  const deliver = (tag) => {
    broker.add(tag);
    tags.add(tag);
  };
  // Tag 1 waits (a retry's backoff, a slow handler) while 100,000 later ones are settled in batches of 500.
  for (let tag = 1; tag <= 100_001; tag++) {
    deliver(tag);
    if (tag % 500 === 1 && tag > 1)
      settleOnBroker(
        t,
        broker,
        tags,
        Array.from({ length: 500 }, (_, k) => tag - 499 + k),
      );
  }
  t.equal(tags.size, 1, 'only the held tag is unsettled');
  const framesBefore = tags.frames;
  t.same(settleOnBroker(t, broker, tags, [1]), { skipped: 0, owed: 1 }, 'the held tag is still known, and settles');
  t.equal(tags.frames, framesBefore + 1);
  t.equal(tags.size, 0);
  t.equal(broker.size, 0);
  deliver(100_002);
  deliver(100_003);
  const sent = [];
  tags.settle([100_003, 100_002], (tag, multiple) => sent.push([tag, multiple]));
  t.same(sent, [[100_003, true]], 'with nothing older left, batches go out as one multiple frame again');
});

t.test('ack grouping in random orders, with gaps and repeats, matches what the broker holds', async (t) => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 10; round++) {
    const broker = new Set();
    const tags = new DeliveryTags();
    let next = 1;
    for (let step = 0; step < 100; step++) {
      for (let k = Math.floor(random() * 300); k > 0; k--) {
        // Now and then a jump in the numbering, sometimes wider than the flag window.
        if (random() < 0.01) next += Math.floor(random() * (random() < 0.2 ? 100_000 : 100));
        broker.add(next);
        tags.add(next++);
      }
      const held = [...broker];
      const settle = held.filter(() => random() < 0.5);
      // Now and then a tag twice in one call, and one never delivered.
      if (random() < 0.1) settle.push(settle[0] ?? 1, next + 7);
      for (let i = settle.length - 1; i > 0; i--) {
        if (random() < 0.3) {
          const j = Math.floor(random() * (i + 1));
          [settle[i], settle[j]] = [settle[j], settle[i]];
        }
      }
      const { skipped, owed } = settleOnBroker(t, broker, tags, settle);
      if (skipped !== settle.length - owed) t.fail(`round ${round}: skipped ${skipped} of ${settle.length - owed}`);
      if (tags.size !== broker.size) t.fail(`round ${round}: ${tags.size} unsettled, the broker holds ${broker.size}`);
    }
  }
  t.pass('every settle covered exactly its own unsettled tags');
});

t.test('the spec declares the flags and checks them before connecting', async (t) => {
  t.same(Object.keys(amqpSpec.flags).sort(), [
    'amqp-url',
    'exchange',
    'max-deliveries',
    'nack-delay',
    'passive',
    'queue',
    'routing-key',
  ]);
  t.equal(amqpSpec.flags['amqp-url'].default, 'amqp://guest:guest@127.0.0.1:5672');
  await t.rejects(async () => amqpSpec.create({}, common), { code: 'MISSIVE_ERR_USAGE', message: /--queue/ });
  await t.rejects(async () => amqpSpec.create({ queue: ['a'], 'routing-key': ['k'] }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--exchange/,
  });
  await t.rejects(async () => amqpSpec.create({ queue: ['a'], passive: true, exchange: 'x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
  });
  await t.rejects(async () => amqpSpec.create({ queue: ['a'], 'amqp-url': 'http://x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /amqp:\/\//,
  });
  const adapter = await amqpSpec.create({ queue: ['a', 'b'], exchange: 'x', 'routing-key': ['k'] }, common);
  t.ok(adapter instanceof AmqpAdapter);
  t.same(adapter.queues, ['a', 'b']);
  t.same(adapter.deliveryLimit, { maxDeliveries: 5, option: '--max-deliveries' }, 'the default limit');
  await t.rejects(async () => amqpSpec.create({ queue: ['a'], 'max-deliveries': '0' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--max-deliveries/,
  });
  await t.rejects(async () => amqpSpec.create({ queue: ['a'], 'nack-delay': 'x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--nack-delay/,
  });
});

t.test('with RabbitMQ', await needAmqp(), async (t) => {
  t.test('a delivery carries the body, messageId and metadata; ack removes it from the queue', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    const adapter = env.adapter({ queues: [queue] });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    t.equal(typeof adapter.client.consume, 'function', 'client is the amqplib channel');
    env.channel.sendToQueue(queue, Buffer.from('{"order":1}'), {
      messageId: 'order-1',
      headers: { tenant: 'acme', attempt: 3 },
      contentType: 'application/json',
      correlationId: 'corr-1',
      replyTo: 'answers',
    });
    env.channel.sendToQueue(queue, Buffer.from('no id'));
    await env.channel.waitForConfirms();
    const [first, second] = await stream.until(2);
    t.equal(first.body.toString(), '{"order":1}');
    t.equal(first.id, 'order-1');
    t.same(first.meta, {
      source: `amqp:${queue}`,
      queue,
      exchange: '',
      routingKey: queue,
      redelivered: false,
      deliveryCount: 1,
      headers: { tenant: 'acme', attempt: 3 },
      contentType: 'application/json',
      correlationId: 'corr-1',
      replyTo: 'answers',
    });
    t.same(structuredClone(first.meta), first.meta, 'meta is structured-cloneable');
    t.equal(second.id, undefined, 'no messageId: the pipeline makes one up');
    t.same(second.meta.headers, {});
    t.same(await queueCounts(queue), { ready: 0, unacked: 2 });
    adapter.ack([first, second], 'handled');
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 }, 'acked: gone from the queue');
    await adapter.stop();
    await adapter.close();
    t.equal((await env.channel.checkQueue(queue)).messageCount, 0);
  });

  t.test('acks in delivery order go out as a few multiple frames; out of order stays correct', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 600);
    const adapter = env.adapter({ queues: [queue], ackLingerMs: 0 });
    const stream = collect(await adapter.open({ maxInFlight: 600 }));
    const all = await stream.until(600);
    t.ok(stream.batches < 600 / 4, `deliveries arrive grouped (${stream.batches} batches for 600)`);
    // The newer half first (each frame single, older tags are still out), then the older half in ten batches.
    adapter.ack(all.slice(300, 310), 'handled');
    for (let i = 0; i < 300; i += 30) adapter.ack(all.slice(i, i + 30), 'handled');
    adapter.ack(all.slice(310), 'handled');
    t.equal(adapter.settleFrames, 10 + 10 + 1, '10 singles, then one multiple frame per batch');
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 });
    adapter.ack(all.slice(0, 5), 'handled');
    t.match(adapter.logs.at(-1), { level: 'warn', message: /ignored 5 acks of messages already settled/ });
    t.equal(adapter.client === undefined, false, 'a double ack is caught before it could close the channel');
  });

  t.test('acks linger a moment to go out together: one frame for many small acks', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 100);
    const adapter = env.adapter({ queues: [queue], ackLingerMs: 20 });
    const stream = collect(await adapter.open({ maxInFlight: 1000 }));
    const all = await stream.until(100);
    for (let i = 0; i < 100; i += 10) adapter.ack(all.slice(i, i + 10), 'handled');
    t.equal(adapter.settleFrames, 0, 'nothing sent yet');
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 }, 'sent within the linger');
    t.equal(adapter.settleFrames, 1, 'ten ack() calls, one multiple frame');
  });

  t.test('acks sent just before close() reach the broker (the channel closes before the connection)', async (t) => {
    const env = await setup(t);
    for (let round = 0; round < 3; round++) {
      const queue = await env.queue();
      await env.publish(queue, 1000);
      const adapter = env.adapter({ queues: [queue] });
      const stream = collect(await adapter.open({ maxInFlight: 1000 }));
      const all = await stream.until(1000);
      // As the pipeline does: stop reading, settle what is in flight, close.
      await adapter.stop();
      adapter.ack(all, 'handled');
      await adapter.close();
      t.equal((await env.channel.checkQueue(queue)).messageCount, 0, `round ${round + 1}: nothing requeued`);
    }
  });

  t.test('nack: after a pause the message is published again, counted, its properties and routing kept', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 3, (i) => ({
      messageId: `m-${i}`,
      headers: { tenant: 'a' },
      correlationId: `c-${i}`,
      persistent: true,
    }));
    const adapter = env.adapter({ queues: [queue], nackBackoff: { initialMs: 300, jitter: false } });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    const first = await stream.until(3);
    t.same(
      first.map((d) => d.meta.deliveryCount),
      [1, 1, 1],
    );
    const nackedAt = Date.now();
    adapter.nack(first);
    await sleep(100);
    t.same(await queueCounts(queue), { ready: 0, unacked: 3 }, 'held during the pause');
    const again = await stream.until(3);
    t.ok(Date.now() - nackedAt >= 250, 'not before the pause');
    t.same(again.map((d) => d.id).sort(), ['m-0', 'm-1', 'm-2']);
    t.same(
      again.map((d) => d.meta.deliveryCount),
      [2, 2, 2],
      'a classic queue counts too, in the message',
    );
    t.same(again[0].meta.headers, {
      tenant: 'a',
      'x-missive-deliveries': 1,
      'x-missive-exchange': '',
      'x-missive-routing-key': queue,
    });
    t.match(again[0].meta, { exchange: '', routingKey: queue, correlationId: again[0].id.replace('m-', 'c-') });
    t.same(await queueCounts(queue), { ready: 0, unacked: 3 }, 'the originals acked once the copies were confirmed');
    adapter.nack(again);
    const third = await stream.until(3);
    t.same(
      third.map((d) => d.meta.deliveryCount),
      [3, 3, 3],
    );
    adapter.ack(third, 'handled');
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 });
  });

  t.test('a nacked copy reaches the reader only once the original is acked: a crash then leaves one', async (t) => {
    // RabbitMQ hands a persistent message to a consumer before it confirms it, so the copy could reach a handler
    // before the original's ack was even sent; a consumer killed there left both in the queue, counted apart.
    const env = await setup(t);
    for (let round = 0; round < 3; round++) {
      const queue = await env.queue();
      await env.publish(queue, 1, () => ({ messageId: 'poison', persistent: true }));
      const child = spawn(
        process.execPath,
        [fileURLToPath(new URL('../fixtures/amqp-kill-at-copy.js', import.meta.url)), queue],
        {
          env: { ...process.env, AMQP_URL },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const [, signal] = await once(child, 'exit');
      t.equal(signal, 'SIGKILL', 'killed at the copy', { stderr });
      await sleep(200);
      t.equal((await env.channel.checkQueue(queue)).messageCount, 1, `round ${round + 1}: only the copy is left`);
    }
  });

  t.test('nacks still pausing at stop() go back at once; a broker requeue counts as a delivery', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 2);
    const adapter = env.adapter({ queues: [queue], nackBackoff: { initialMs: 60_000 } });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    adapter.nack(await stream.until(2));
    const stoppedAt = Date.now();
    await adapter.stop();
    await adapter.close();
    t.ok(Date.now() - stoppedAt < 5000, 'no waiting out the pause');
    t.same(await countsBecome(queue, { ready: 2, unacked: 0 }), { ready: 2, unacked: 0 }, 'requeued');
    const next = env.adapter({ queues: [queue] });
    const back = await collect(await next.open({ maxInFlight: 10 })).until(2);
    t.same(
      back.map((d) => [d.meta.redelivered, d.meta.deliveryCount]),
      [
        [true, 2],
        [true, 2],
      ],
    );
    next.ack(back, 'handled');
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 });
  });

  t.test('a quorum queue counts deliveries (x-delivery-count); passive uses it as declared', async (t) => {
    const env = await setup(t);
    const queue = await env.queue('quorum', { arguments: { 'x-queue-type': 'quorum' } });
    await env.publish(queue, 1);
    const adapter = env.adapter({ queues: [queue], passive: true });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    const [first] = await stream.until(1);
    t.equal(first.meta.deliveryCount, 1);
    adapter.nack([first]);
    const [second] = await stream.until(1);
    t.equal(second.meta.deliveryCount, 2, 'a nack is counted in the copy it publishes');
    t.equal(second.meta.headers['x-missive-deliveries'], 1);
    // Nacked while stopping: a plain requeue, which the quorum queue counts.
    await adapter.stop();
    adapter.nack([second]);
    await adapter.close();
    const next = env.adapter({ queues: [queue], passive: true });
    const [third] = await collect(await next.open({ maxInFlight: 10 })).until(1);
    t.equal(third.meta.headers['x-delivery-count'], 1);
    t.equal(third.meta.deliveryCount, 3, 'one nack in the header, one requeue counted by the broker, this delivery');
    next.ack([third], 'handled');
  });

  t.test('prefetch is the window: never more unsettled than maxInFlight', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 5000);
    const adapter = env.adapter({ queues: [queue] });
    const stream = collect(await adapter.open({ maxInFlight: 100 }));
    t.equal(adapter.prefetch, 100);
    const window = await stream.until(100);
    await sleep(300);
    t.equal(stream.deliveries.length, 0, 'nothing past the window while none is settled');
    t.same(await queueCounts(queue), { ready: 4900, unacked: 100 });
    adapter.ack(window.slice(0, 40), 'handled');
    await stream.until(40);
    await sleep(200);
    t.equal(stream.deliveries.length, 0, 'settling 40 lets exactly 40 more in');
  });

  t.test('queues are bound to an existing exchange with each routing key', async (t) => {
    const env = await setup(t);
    const exchange = env.exchange();
    await env.channel.assertExchange(exchange, 'topic', { durable: false });
    const orders = await env.queue('orders');
    const adapter = env.adapter({ queues: [orders], exchange, routingKeys: ['orders.*', 'refunds.#'] });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    for (const key of ['orders.created', 'refunds.eu.full', 'stock.low'])
      env.channel.publish(exchange, key, Buffer.from(key));
    await env.channel.waitForConfirms();
    const got = await stream.until(2);
    await sleep(200);
    t.equal(stream.deliveries.length, 0, 'an unbound key is not delivered');
    t.same(
      got.map((d) => [d.meta.exchange, d.meta.routingKey, d.body.toString()]),
      [
        [exchange, 'orders.created', 'orders.created'],
        [exchange, 'refunds.eu.full', 'refunds.eu.full'],
      ],
    );
    adapter.ack(got, 'handled');
  });

  t.test(
    'a missing exchange, a missing queue under passive, a queue with other settings: clear errors at once',
    async (t) => {
      const env = await setup(t);
      const missing = await env.queue('missing', { declare: false });
      const passive = env.adapter({ queues: [missing], passive: true });
      const unbound = env.adapter({ queues: [await env.queue()], exchange: env.exchange() });
      await t.rejects(passive.open({ maxInFlight: 10 }), {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: new RegExp(`the queue "${missing}" does not exist .*--passive`),
      });
      await t.rejects(unbound.open({ maxInFlight: 10 }), {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: /exchange .* does not exist .*declare it first/,
      });
      const limited = await env.queue('limited', { arguments: { 'x-max-length': 10 } });
      const mismatched = env.adapter({ queues: [limited] });
      await t.rejects(mismatched.open({ maxInFlight: 10 }), {
        code: 'MISSIVE_ERR_TRANSPORT',
        message: /exists .* with other settings .*--passive/,
      });
      // A retry logs its wait first ("retrying in N ms"); a refusal is final, so none of the three logged one.
      const retries = [passive, unbound, mismatched].flatMap((a) => a.logs.filter((l) => /retrying/.test(l.message)));
      t.same(retries, [], 'refusals are not retried');
    },
  );

  t.test('reply() publishes to replyTo with the correlationId', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    const answers = await env.queue('answers', { durable: false });
    const adapter = env.adapter({ queues: [queue] });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    env.channel.sendToQueue(queue, Buffer.from('ping'), { replyTo: answers, correlationId: 'req-42' });
    env.channel.sendToQueue(queue, Buffer.from('no reply wanted'));
    await env.channel.waitForConfirms();
    const [request, plain] = await stream.until(2);
    await adapter.reply(request, Buffer.from('pong'));
    await t.rejects(adapter.reply(plain, Buffer.from('x')), { code: 'MISSIVE_ERR_TRANSPORT', message: /no replyTo/ });
    adapter.ack([request, plain], 'handled');
    const answer = await env.channel.get(answers, { noAck: true });
    t.equal(answer.content.toString(), 'pong');
    t.equal(answer.properties.correlationId, 'req-42');
  });

  t.test('stop() cancels the consumers and ends the stream; close() returns the unacked', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 20);
    const adapter = env.adapter({ queues: [queue] });
    const readable = await adapter.open({ maxInFlight: 10 });
    const stream = collect(readable);
    const ended = new Promise((resolve) => readable.once('end', resolve));
    const got = await stream.until(10);
    adapter.ack(got.slice(0, 4), 'handled');
    await stream.until(4);
    await adapter.stop();
    await ended;
    await sleep(200);
    t.equal(stream.deliveries.length, 0, 'nothing after the end');
    await adapter.close();
    t.equal(adapter.client, undefined);
    t.same(await countsBecome(queue, { ready: 16, unacked: 0 }), { ready: 16, unacked: 0 }, 'the 6 unacked went back');
  });

  t.test('a forcibly closed connection: reconnect, drop settles of the dead channel, deliver everything', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    const total = 2000;
    await env.publish(queue, total);
    const adapter = env.adapter({ queues: [queue] });
    const stream = collect(await adapter.open({ maxInFlight: 50 }));
    const seen = new Set();
    let held;
    let acked = 0;
    const consume = async (until) => {
      while (acked < until) {
        const batch = await stream.until(1);
        for (const d of batch) seen.add(d.id);
        adapter.ack(batch, 'handled');
        acked += batch.length;
      }
    };
    await consume(500);
    held = await stream.until(1);
    t.equal(await closeConnectionsNamed(adapter.connectionName), 1, 'closed our own connection only');
    while (adapter.reconnects === 0) await sleep(20);
    adapter.ack(held, 'handled');
    const messages = adapter.logs.map((l) => l.message);
    for (const line of [
      /lost the connection to RabbitMQ at amqp:\/\/guest:\*\*\*@/,
      /reconnecting .* \(attempt 1\)/,
      /reconnected/,
    ]) {
      t.ok(
        messages.some((m) => line.test(m)),
        `logged ${line}`,
      );
    }
    t.match(adapter.logs.at(-1), {
      level: 'warn',
      message: /dropped \d+ acks for messages of a lost RabbitMQ channel/,
    });
    await consume(total - 100);
    const redelivered = [];
    while (seen.size < total) {
      const batch = await stream.until(1);
      for (const d of batch) {
        seen.add(d.id);
        if (d.meta.redelivered) redelivered.push(d.id);
      }
      adapter.ack(batch, 'handled');
    }
    t.equal(seen.size, total, 'every message delivered');
    t.ok(
      held.every((d) => seen.has(d.id)),
      'the held ones among them',
    );
    t.same(await countsBecome(queue, { ready: 0, unacked: 0 }), { ready: 0, unacked: 0 }, 'all acked, once');
    t.notOk(
      adapter.logs.some((l) => /PRECONDITION|unknown delivery tag/i.test(l.message)),
      'no channel error',
    );
    t.notOk(JSON.stringify(adapter.logs).includes(':guest@'), 'the password is never logged');
  });

  t.test(
    'ackConfirmed resolves once RabbitMQ has applied the acks; after a lost channel, its deliveries are revoked',
    async (t) => {
      const env = await setup(t);
      const queue = await env.queue();
      await env.publish(queue, 300);
      const adapter = env.adapter({ queues: [queue] });
      const stream = collect(await adapter.open({ maxInFlight: 100 }));
      const first = await stream.until(100);
      t.equal(await adapter.ackConfirmed(first.slice(0, 50), 'handled'), 50, 'all 50 confirmed');
      const { ready, unacked } = await queueCounts(queue);
      t.equal(ready + unacked, 250, 'confirmed means applied: the broker already counts those 50 gone');
      // The window refills: 50 more on the same channel.
      const stale = [...first.slice(50), ...(await stream.until(50))];
      t.notOk(
        stale.some((d) => adapter.revoked(d)),
        'nothing revoked while the channel lives',
      );
      t.equal(await closeConnectionsNamed(adapter.connectionName), 1);
      while (adapter.reconnects === 0) await sleep(20);
      t.ok(
        stale.every((d) => adapter.revoked(d)),
        'the unacked deliveries of the lost channel are revoked',
      );
      t.equal(await adapter.ackConfirmed(stale.slice(0, 10), 'handled'), 0, 'acks for the lost channel: none taken');
      const again = await stream.until(100);
      t.notOk(
        again.some((d) => adapter.revoked(d)),
        'deliveries of the new channel are not revoked',
      );
      const back = again.filter((d) => d.meta.redelivered).map((d) => d.id);
      t.same(back.sort(), stale.map((d) => d.id).sort(), 'RabbitMQ delivers the 100 revoked ones again, redelivered');
      t.equal(
        await adapter.ackConfirmed([...stale.slice(10, 20), ...again], 'handled'),
        100,
        'a mixed call counts the live ones',
      );
      t.same(await countsBecome(queue, { ready: 50, unacked: 100 }), { ready: 50, unacked: 100 });
      t.match(
        adapter.logs.find((l) => /dropped 10 acks/.test(l.message)),
        { level: 'warn' },
        'the dropped acks are logged',
      );
    },
  );

  t.test('an ack cut off on its way counts as not taken, and its message comes back', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    await env.publish(queue, 10);
    const proxy = await startProxy(t);
    const adapter = env.adapter({ queues: [queue], url: proxy.url });
    const stream = collect(await adapter.open({ maxInFlight: 10 }));
    const all = await stream.until(10);
    proxy.hold();
    let answer;
    const receipt = adapter.ackConfirmed(all, 'handled').then((confirmed) => (answer = confirmed));
    await sleep(200);
    t.equal(adapter.settleFrames, 1, 'the ack went out');
    t.equal(answer, undefined, 'not confirmed while RabbitMQ has not answered behind it');
    proxy.cut();
    await receipt;
    t.equal(answer, 0, 'the connection broke first: not counted as acked');
    const again = await stream.until(10);
    t.same(again.map((d) => d.id).sort(), all.map((d) => d.id).sort(), 'RabbitMQ never got the ack: all 10 come back');
    t.ok(again.every((d) => d.meta.redelivered));
    t.equal(await adapter.ackConfirmed(again, 'handled'), 10);
    t.same(await queueCounts(queue), { ready: 0, unacked: 0 });
  });

  t.test('while the broker is unreachable, reconnect attempts are at most a second apart', async (t) => {
    const env = await setup(t);
    const queue = await env.queue();
    const proxy = await startProxy(t);
    // The default delays: 250 ms doubling, at most 5 s at open; after a loss at most 1 s.
    const adapter = env.adapter({ queues: [queue], url: proxy.url, retryDelayMs: 250, maxRetryDelayMs: 5000 });
    collect(await adapter.open({ maxInFlight: 10 }));
    proxy.refuse(true);
    proxy.cut();
    const attempts = () => adapter.logs.filter((l) => /^reconnecting to RabbitMQ/.test(l.message));
    while (attempts().length < 7) await sleep(20);
    proxy.refuse(false);
    const reachable = Date.now();
    while (adapter.reconnects === 0) await sleep(10);
    const delays = attempts().map((l) => Number(/ in (\d+) ms/.exec(l.message)[1]));
    t.ok(
      delays.every((ms) => ms <= 1000),
      `every wait at most 1000 ms (${delays.join(', ')})`,
    );
    t.ok(Date.now() - reachable < 3000, `consuming again ${Date.now() - reachable} ms after the broker was reachable`);
  });

  t.test(
    'an unreachable broker: retries with a log line each, then a TransportError without the password',
    async (t) => {
      const logs = [];
      const adapter = new AmqpAdapter({
        url: 'amqp://user:s3cret@127.0.0.1:1/vhost',
        queues: ['q'],
        connectAttempts: 3,
        retryDelayMs: 10,
        log: (level, message) => logs.push({ level, message }),
      });
      const error = await adapter.open({ maxInFlight: 10 }).then(
        () => null,
        (e) => e,
      );
      t.equal(error?.code, 'MISSIVE_ERR_TRANSPORT');
      t.match(
        error.message,
        /cannot connect to RabbitMQ at amqp:\/\/user:\*\*\*@127\.0\.0\.1:1\/vhost .*after 3 attempts/,
      );
      t.equal(logs.length, 2);
      t.match(logs[0], { level: 'warn', message: /retrying in 10 ms/ });
      t.notOk(JSON.stringify({ m: error.message, logs }).includes('s3cret'));
    },
  );
});
