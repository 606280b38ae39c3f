// The Redis Pub/Sub adapter against a real Redis: channels and patterns with their metadata, at-most-once
// settling, the buffer bound (drop, count, log), stop and connection failures.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisPubSubAdapter, isChannelPattern } from '../../dist/adapters/redis-pubsub.js';
import { redisPubSubSpec } from '../../dist/adapters/redis-pubsub-spec.js';
import { REDIS_URL, needRedis } from '../helpers/brokers.js';
import { sleep } from '../helpers/http-clients.js';

/** A unique channel prefix, a publisher, and adapters that are all closed after. */
function setup(t) {
  const publisher = new Redis(REDIS_URL);
  const prefix = `missive-test:pubsub:${randomUUID()}`;
  const adapters = [];
  t.teardown(async () => {
    await Promise.all(adapters.map((adapter) => adapter.close().catch(() => {})));
    publisher.disconnect();
  });
  return {
    publisher,
    prefix,
    adapter(options) {
      const adapter = new RedisPubSubAdapter({ url: REDIS_URL, ...options });
      adapters.push(adapter);
      return adapter;
    },
  };
}

/** Reads deliveries until `count` have arrived, without ending the stream. */
async function take(iterator, count, timeoutMs = 5000) {
  const out = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`only ${out.length} of ${count} within ${timeoutMs} ms`)),
        deadline - Date.now(),
      );
    });
    const { value, done } = await Promise.race([iterator.next(), timeout]).finally(() => clearTimeout(timer));
    if (done) break;
    out.push(...value);
  }
  return out;
}

const opts = await needRedis();

t.test('delivers channel and pattern messages with their metadata; at most once', opts, async (t) => {
  const s = setup(t);
  const channel = `${s.prefix}:orders`;
  const pattern = `${s.prefix}:events.*`;
  const adapter = s.adapter({ channels: [channel, pattern] });
  t.same(adapter.channels, [channel]);
  t.same(adapter.patterns, [pattern]);
  t.equal(adapter.canRequeue, false, 'Pub/Sub cannot redeliver');
  const iterator = (await adapter.open({ maxInFlight: 100 }))[Symbol.asyncIterator]();
  t.ok(adapter.client instanceof Redis, 'client is the subscriber connection');
  const binary = Buffer.from([0, 255, 10, 13, 0x80]);
  await s.publisher.publish(channel, binary);
  await s.publisher.publish(`${s.prefix}:events.created`, 'e1');
  await s.publisher.publish(`${s.prefix}:other`, 'not subscribed');
  const [first, second, ...rest] = await take(iterator, 2);
  t.equal(rest.length, 0);
  t.ok(first.body.equals(binary), 'binary body intact');
  t.same(first.meta, { source: `redis-pubsub:${channel}`, channel });
  t.equal(first.id, undefined, 'Pub/Sub messages have no transport id');
  t.equal(second.body.toString(), 'e1');
  t.same(second.meta, {
    source: `redis-pubsub:${s.prefix}:events.created`,
    channel: `${s.prefix}:events.created`,
    pattern,
  });
  t.equal(adapter.ack([first, second], 'handled'), undefined, 'ack is a no-op');
  await sleep(50);
  t.equal(adapter.buffered, 0, 'the unsubscribed channel delivered nothing');
});

t.test('at the buffer bound, new messages are dropped, counted and logged; the held ones stay', opts, async (t) => {
  const s = setup(t);
  const channel = `${s.prefix}:burst`;
  const lines = [];
  const adapter = s.adapter({
    channels: [channel],
    maxBuffered: 5,
    log: (level, message, fields) => lines.push({ level, message, fields }),
  });
  const readable = await adapter.open({ maxInFlight: 100 });
  // Nobody reads yet: the publisher keeps going, as Pub/Sub publishers do.
  const pipeline = s.publisher.pipeline();
  for (let i = 0; i < 20; i++) pipeline.publish(channel, `m-${i}`);
  await pipeline.exec();
  const deadline = Date.now() + 3000;
  while (adapter.buffered + adapter.dropped < 20 && Date.now() < deadline) await sleep(10);
  t.equal(adapter.buffered, 5, 'held up to the bound');
  t.equal(adapter.dropped, 15, 'the rest dropped and counted');
  t.equal(lines.length, 1, 'one warn line for the burst (at most one a second)');
  t.equal(lines[0]?.level, 'warn');
  t.match(lines[0]?.message, /buffer full \(5 messages\), dropped 1 messages/);
  const held = await take(readable[Symbol.asyncIterator](), 5);
  t.same(
    held.map((d) => d.body.toString()),
    ['m-0', 'm-1', 'm-2', 'm-3', 'm-4'],
    'the oldest are kept, in order',
  );
  await adapter.stop();
  t.equal(lines.length, 2, 'stop reports the drops not yet logged');
  t.equal(lines[1].fields.dropped, 14);
  t.equal(lines[1].fields.droppedTotal, 15);
});

t.test('stop() unsubscribes and ends the stream after the messages already held', opts, async (t) => {
  const s = setup(t);
  const channel = `${s.prefix}:stop`;
  const adapter = s.adapter({ channels: [channel] });
  const readable = await adapter.open({ maxInFlight: 100 });
  await s.publisher.publish(channel, 'held');
  const deadline = Date.now() + 3000;
  while (adapter.buffered < 1 && Date.now() < deadline) await sleep(10);
  await adapter.stop();
  t.equal(await s.publisher.publish(channel, 'after stop'), 0, 'no subscriber left');
  const all = [];
  for await (const batch of readable) all.push(...batch);
  t.same(
    all.map((d) => d.body.toString()),
    ['held'],
  );
  await adapter.close();
  t.equal(adapter.client.status, 'end');
});

t.test('a body over maxMessageBytes comes as a rejected delivery with a sample', opts, async (t) => {
  const s = setup(t);
  const channel = `${s.prefix}:big`;
  const adapter = s.adapter({ channels: [channel], maxMessageBytes: 10 });
  const iterator = (await adapter.open({ maxInFlight: 100 }))[Symbol.asyncIterator]();
  await s.publisher.publish(channel, 'x'.repeat(20));
  const [delivery] = await take(iterator, 1);
  t.equal(delivery.rejected.reason, 'message too large');
  t.match(delivery.rejected.error, /20 bytes, over the limit of 10 bytes/);
});

t.test('an unreachable Redis fails open() with MISSIVE_ERR_TRANSPORT naming the URL, never the password', async (t) => {
  const lines = [];
  const adapter = new RedisPubSubAdapter({
    url: 'redis://:hunter2@127.0.0.1:1',
    channels: ['x'],
    connectAttempts: 2,
    retryDelayMs: 10,
    log: (level, message) => lines.push(message),
  });
  const error = await adapter.open({ maxInFlight: 1 }).then(
    () => null,
    (e) => e,
  );
  t.equal(error?.code, 'MISSIVE_ERR_TRANSPORT');
  t.match(error.message, 'redis://:***@127.0.0.1:1');
  t.equal(lines.length, 1);
  t.notMatch([error.message, ...lines].join('\n'), 'hunter2');
});

t.test('spec: channels, patterns and usage errors', async (t) => {
  const common = { maxMessageBytes: 1024, log: () => {} };
  t.equal(redisPubSubSpec.name, 'redis-pubsub');
  t.match(redisPubSubSpec.summary, /at most once/);
  t.ok(isChannelPattern('orders.*') && isChannelPattern('a?') && isChannelPattern('h[ae]llo'));
  t.notOk(isChannelPattern('orders.created'));
  await t.rejects(async () => redisPubSubSpec.create({}, common), { code: 'MISSIVE_ERR_USAGE', message: /--channel/ });
  await t.rejects(async () => redisPubSubSpec.create({ channel: ['a'], 'max-buffered': '0' }, common), {
    code: 'MISSIVE_ERR_USAGE',
  });
  await t.rejects(async () => redisPubSubSpec.create({ channel: ['a'], 'redis-url': 'localhost:6379' }, common), {
    code: 'MISSIVE_ERR_USAGE',
  });
  const adapter = await redisPubSubSpec.create({ channel: ['orders', 'events.*'] }, common);
  t.same(adapter.channels, ['orders']);
  t.same(adapter.patterns, ['events.*']);
});
