// The Redis Streams adapter against a real Redis, driven through the Adapter interface (open → read → ack/nack):
// consumer groups, the PEL, claims, redelivery counts, backpressure, stop/close and connection failures.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStreamsAdapter } from '../../dist/adapters/redis-streams.js';
import { redisStreamsSpec } from '../../dist/adapters/redis-streams-spec.js';
import { REDIS_URL, needRedis } from '../helpers/brokers.js';
import { sleep } from '../helpers/http-clients.js';

/** A fresh stream, an admin connection, and adapters on it that are all closed (and the stream deleted) after. */
async function setup(t) {
  const redis = new Redis(REDIS_URL);
  const stream = `missive-test:streams:${randomUUID()}`;
  const adapters = [];
  t.teardown(async () => {
    await Promise.all(adapters.map((adapter) => adapter.close().catch(() => {})));
    await redis.del(stream);
    redis.disconnect();
  });
  return {
    redis,
    stream,
    adapter(options = {}) {
      const adapter = new RedisStreamsAdapter({ url: REDIS_URL, stream, blockMs: 100, ...options });
      adapters.push(adapter);
      return adapter;
    },
    async add(count, fields = (i) => ['body', `m-${i}`]) {
      const ids = [];
      for (let start = 0; start < count; start += 1000) {
        const pipeline = redis.pipeline();
        for (let i = start; i < Math.min(count, start + 1000); i++) pipeline.xadd(stream, '*', ...fields(i));
        for (const [error, id] of await pipeline.exec()) {
          if (error) throw error;
          ids.push(id);
        }
      }
      return ids;
    },
    pendingCount: async (group = 'missive') => Number((await redis.xpending(stream, group))[0]),
  };
}

/** Reads batches without ending the stream (no `for await ... break`, which would destroy it). */
function reader(readable) {
  const iterator = readable[Symbol.asyncIterator]();
  return {
    async next(timeoutMs = 5000) {
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no batch within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const { value, done } = await Promise.race([iterator.next(), timeout]);
        return done ? null : value;
      } finally {
        clearTimeout(timer);
      }
    },
    /** Reads until `count` deliveries have arrived. */
    async take(count, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      const out = [];
      while (out.length < count) {
        const batch = await this.next(Math.max(1, deadline - Date.now()));
        if (batch === null) break;
        out.push(...batch);
      }
      return out;
    },
  };
}

const opts = await needRedis();

t.test('delivers body bytes, headers and stream metadata; ack removes the entry from the PEL', opts, async (t) => {
  const s = await setup(t);
  const body = Buffer.from([0, 255, 1, 0x80, 10, 13]);
  const [id] = await s.add(1, () => ['trace', 'abc', 'body', body, 'type', 'order']);
  const adapter = s.adapter({ consumer: 'c1' });
  t.equal(adapter.name, 'redis-streams');
  t.equal(adapter.canRequeue, true);
  const readable = await adapter.open({ maxInFlight: 10 });
  t.ok(adapter.client instanceof Redis, 'client is the ioredis command connection');
  const [delivery, ...rest] = await reader(readable).take(1);
  t.equal(rest.length, 0);
  t.ok(Buffer.isBuffer(delivery.body) && delivery.body.equals(body), 'binary body intact');
  t.equal(delivery.id, id);
  t.same(delivery.meta, {
    source: `redis-streams:${s.stream}`,
    stream: s.stream,
    streamId: id,
    deliveryCount: 1,
    headers: { trace: 'abc', type: 'order' },
  });
  t.notOk(delivery.rejected);
  t.equal(await s.pendingCount(), 1, 'pending until acked');
  await adapter.ack([delivery], 'handled');
  t.equal(await s.pendingCount(), 0, 'XPENDING is empty after ack');
});

t.test('nack leaves the entry pending; it is claimed again after claim-idle with deliveryCount 2', opts, async (t) => {
  const s = await setup(t);
  const [id] = await s.add(1);
  const adapter = s.adapter({ claimIdleMs: 200 });
  const r = reader(await adapter.open({ maxInFlight: 10 }));
  const [first] = await r.take(1);
  t.equal(first.meta.deliveryCount, 1);
  const nackedAt = Date.now();
  await adapter.nack([first]);
  t.equal(await s.pendingCount(), 1, 'still pending after nack');
  const [again] = await r.take(1, 3000);
  t.equal(again.id, id, 'the same entry');
  t.ok(Date.now() - nackedAt >= 150, 'not before claim-idle');
  t.equal(again.meta.deliveryCount, 2);
  t.equal(again.body.toString(), 'm-0');
  await adapter.ack([again]);
  t.equal(await s.pendingCount(), 0);
});

t.test(
  'an entry delivered more than max-deliveries times comes with its count, over the limit the pipeline applies',
  opts,
  async (t) => {
    const s = await setup(t);
    await s.add(1);
    const adapter = s.adapter({ claimIdleMs: 100, maxDeliveries: 2 });
    const r = reader(await adapter.open({ maxInFlight: 10 }));
    for (const expected of [1, 2]) {
      const [delivery] = await r.take(1);
      t.equal(delivery.meta.deliveryCount, expected);
      t.notOk(delivery.rejected);
      adapter.nack([delivery]);
    }
    const [last] = await r.take(1);
    t.equal(last.meta.deliveryCount, 3);
    t.same(
      adapter.deliveryLimit,
      { maxDeliveries: 2, option: '--max-deliveries' },
      'the pipeline stores it as a dead letter',
    );
    t.equal(last.body.toString(), 'm-0', 'body kept for the dead letter');
    await adapter.ack([last], 'dead-lettered');
    t.equal(await s.pendingCount(), 0, 'acked once dead-lettered');
  },
);

t.test('an entry without the body field comes as a rejected delivery with its fields as headers', opts, async (t) => {
  const s = await setup(t);
  const [id] = await s.add(1, () => ['payload', 'x', 'kind', 'y']);
  const adapter = s.adapter({ field: 'body' });
  const [delivery] = await reader(await adapter.open({ maxInFlight: 10 })).take(1);
  t.equal(delivery.id, id);
  t.equal(delivery.rejected.reason, 'missing body field');
  t.match(delivery.rejected.error, /has no field "body".*payload, kind/);
  t.same(delivery.meta.headers, { payload: 'x', kind: 'y' });
  t.equal(delivery.body.length, 0);
});

t.test('a restart under the same consumer name re-reads its own pending entries first', opts, async (t) => {
  const s = await setup(t);
  const ids = await s.add(3);
  const before = s.adapter({ consumer: 'worker-1' });
  const taken = await reader(await before.open({ maxInFlight: 10 })).take(3);
  t.same(
    taken.map((d) => d.id),
    ids,
  );
  await before.close(); // crashed, in effect: nothing acked
  const added = await s.add(1, () => ['body', 'new']);
  const after = s.adapter({ consumer: 'worker-1' });
  const r = reader(await after.open({ maxInFlight: 10 }));
  const again = await r.take(3);
  t.same(
    again.map((d) => d.id),
    ids,
    'the pending entries, in order, before new ones',
  );
  t.same(
    again.map((d) => d.meta.deliveryCount),
    [2, 2, 2],
  );
  const [fresh] = await r.take(1);
  t.equal(fresh.id, added[0]);
  t.equal(fresh.meta.deliveryCount, 1);
  await after.ack([...again, fresh]);
  t.equal(await s.pendingCount(), 0);
});

t.test("another consumer claims a dead consumer's idle entries", opts, async (t) => {
  const s = await setup(t);
  const ids = await s.add(3);
  const dead = s.adapter({ consumer: 'dead' });
  await reader(await dead.open({ maxInFlight: 10 })).take(3);
  await dead.close();
  const alive = s.adapter({ consumer: 'alive', claimIdleMs: 200 });
  const r = reader(await alive.open({ maxInFlight: 10 }));
  const claimed = await r.take(3, 3000);
  t.same(claimed.map((d) => d.id).sort(), [...ids].sort());
  t.same(
    claimed.map((d) => d.meta.deliveryCount),
    [2, 2, 2],
  );
  const owners = (await s.redis.xpending(s.stream, 'missive', '-', '+', 10)).map((row) => row[1]);
  t.same(owners, ['alive', 'alive', 'alive'], 'now pending with the live consumer');
  await alive.ack(claimed);
  t.equal(await s.pendingCount(), 0);
});

t.test('two consumers in one group share the entries without duplicates', opts, async (t) => {
  const s = await setup(t);
  const ids = await s.add(2000);
  let total = 0;
  const consume = async (adapter) => {
    const r = reader(await adapter.open({ maxInFlight: 50 }));
    const got = [];
    while (total < ids.length) {
      const batch = await r.next(2000).catch(() => null);
      if (batch === null) break;
      total += batch.length;
      got.push(...batch.map((d) => d.id));
      await sleep(1); // a little work, so the other consumer gets its turn
      await adapter.ack(batch);
    }
    return got;
  };
  const a = s.adapter({ consumer: 'a', blockMs: 50 });
  const b = s.adapter({ consumer: 'b', blockMs: 50 });
  const [gotA, gotB] = await Promise.all([consume(a), consume(b)]);
  t.ok(gotA.length > 0 && gotB.length > 0, `both consumed (a ${gotA.length}, b ${gotB.length})`);
  const all = [...gotA, ...gotB];
  t.equal(new Set(all).size, all.length, 'no entry delivered twice');
  t.same(all.sort(), [...ids].sort(), 'every entry delivered');
  t.equal(await s.pendingCount(), 0);
});

t.test('backpressure: a slow reader does not make the adapter read ahead unboundedly', opts, async (t) => {
  const s = await setup(t);
  await s.add(10_000);
  const adapter = s.adapter();
  const r = reader(await adapter.open({ maxInFlight: 100 }));
  const first = await r.next();
  t.equal(first.length, 100, 'COUNT follows maxInFlight');
  let maxPending = 0;
  for (let i = 0; i < 10; i++) {
    await sleep(30);
    maxPending = Math.max(maxPending, await s.pendingCount());
  }
  t.ok(maxPending <= 300, `at most a few batches read ahead (${maxPending} pending of 10000)`);
  await adapter.ack(first); // no read follows (one batch is buffered): the ack must go out on its own
  t.equal(await s.pendingCount(), 100, 'the first batch acked, the buffered one pending');
  const second = await r.next();
  t.equal(second.length, 100, 'reading goes on once the reader reads');
});

t.test('stop() ends the stream promptly, even during a blocking read', opts, async (t) => {
  const s = await setup(t);
  const adapter = s.adapter({ blockMs: 10_000 });
  const r = reader(await adapter.open({ maxInFlight: 10 }));
  const ended = r.next(15_000);
  await sleep(200); // the read is now blocked in Redis
  const t0 = Date.now();
  await adapter.stop();
  t.equal(await ended, null, 'the stream ended');
  const took = Date.now() - t0;
  t.ok(took < 1000, `within a second of stop() (${took} ms), not after the 10 s block`);
});

t.test('close() sends acks still queued', opts, async (t) => {
  const s = await setup(t);
  await s.add(50);
  const adapter = s.adapter();
  const batch = await reader(await adapter.open({ maxInFlight: 50 })).take(50);
  t.equal(await s.pendingCount(), 50);
  const acked = adapter.ack(batch); // queued, not sent yet
  await adapter.close();
  await acked;
  t.equal(await s.pendingCount(), 0, 'every ack reached Redis before the connections closed');
});

t.test('an unreachable Redis fails open() with MISSIVE_ERR_TRANSPORT naming the URL, never the password', async (t) => {
  const lines = [];
  const adapter = new RedisStreamsAdapter({
    url: 'redis://alice:s3cret@127.0.0.1:1',
    stream: 'never',
    connectAttempts: 3,
    retryDelayMs: 10,
    log: (level, message) => lines.push(`${level} ${message}`),
  });
  const t0 = Date.now();
  const error = await adapter.open({ maxInFlight: 10 }).then(
    () => null,
    (e) => e,
  );
  t.ok(error, 'open() rejected');
  t.equal(error.code, 'MISSIVE_ERR_TRANSPORT');
  t.match(error.message, 'redis://alice:***@127.0.0.1:1');
  t.match(error.message, /after 3 attempts/);
  t.equal(lines.length, 2, 'one log line per retry');
  t.ok(lines.every((line) => line.startsWith('warn ') && line.includes('127.0.0.1:1')));
  t.notMatch([error.message, ...lines].join('\n'), 's3cret');
  t.ok(Date.now() - t0 < 5000, 'the retry budget is the one configured');
});

t.test('spec: flags, defaults and usage errors', async (t) => {
  const common = { maxMessageBytes: 1024, log: () => {} };
  t.equal(redisStreamsSpec.name, 'redis-streams');
  await t.rejects(async () => redisStreamsSpec.create({}, common), { code: 'MISSIVE_ERR_USAGE', message: /--stream/ });
  await t.rejects(async () => redisStreamsSpec.create({ stream: 's', 'redis-url': 'http://x' }, common), {
    code: 'MISSIVE_ERR_USAGE',
  });
  await t.rejects(async () => redisStreamsSpec.create({ stream: 's', 'claim-idle': 'soon' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--claim-idle/,
  });
  const adapter = await redisStreamsSpec.create({ stream: 'orders', consumer: 'w1' }, common);
  t.equal(adapter.stream, 'orders');
  t.equal(adapter.group, 'missive');
  t.equal(adapter.consumer, 'w1');
  t.match((await redisStreamsSpec.create({ stream: 'orders' }, common)).consumer, new RegExp(`-${process.pid}$`));
});
