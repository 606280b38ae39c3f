// One harness per adapter for the exported conformance suite (missive-node/testing): how to publish to the
// transport, build a fresh adapter, and ask the transport what it still holds. `features` is the table of what each
// transport can do; `need` says whether its server is there (skip, or fail under CI=true). `setup` gets the
// suite's context ({ caseName, teardown }), not a tap test, so the harnesses work under any framework.
import { PassThrough } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAdapter } from '../../dist/adapters/file.js';
import { StdinAdapter } from '../../dist/adapters/stdin.js';
import { AMQP_URL, NATS_URL, REDIS_URL, needAmqp, needNats, needRedis } from '../helpers/brokers.js';

export const harnesses = [
  {
    name: 'file',
    features: { requeue: false, persistence: true, ordering: true, endsWithInput: true },
    need: async () => ({}),
    async setup(t) {
      const dir = mkdtempSync(join(tmpdir(), 'missive-conformance-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const path = join(dir, 'input.jsonl');
      return {
        publish: async (bodies) => writeFileSync(path, bodies.map((b) => `${b}\n`).join('')),
        adapter: () => new FileAdapter([path]),
        pending: async () => 0,
        source: `file:${path}`,
      };
    },
  },
  {
    name: 'stdin',
    features: { requeue: false, persistence: false, ordering: true, endsWithInput: true },
    need: async () => ({}),
    async setup() {
      const stream = new PassThrough();
      return {
        publish: async (bodies) => stream.end(bodies.map((b) => `${b}\n`).join('')),
        adapter: () => new StdinAdapter({ stream }),
        pending: async () => 0,
        source: 'stdin',
      };
    },
  },
  {
    name: 'redis-pubsub',
    features: { requeue: false, persistence: false, ordering: true, endsWithInput: false },
    need: needRedis,
    async setup(t) {
      const { Redis } = await import('ioredis');
      const { RedisPubSubAdapter } = await import('../../dist/adapters/redis-pubsub.js');
      const redis = new Redis(REDIS_URL);
      const channel = `conformance-${randomUUID()}`;
      t.teardown(() => redis.disconnect());
      return {
        publish: async (bodies) => {
          const pipeline = redis.pipeline();
          for (const body of bodies) pipeline.publish(channel, body);
          await pipeline.exec();
        },
        adapter: () => new RedisPubSubAdapter({ url: REDIS_URL, channels: [channel] }),
        // At most once: nothing is kept, so nothing can be left behind.
        pending: async () => 0,
        source: `redis-pubsub:${channel}`,
      };
    },
  },
  {
    name: 'redis-streams',
    features: { requeue: true, persistence: true, ordering: false, endsWithInput: false },
    need: needRedis,
    async setup(t) {
      const { Redis } = await import('ioredis');
      const { RedisStreamsAdapter } = await import('../../dist/adapters/redis-streams.js');
      const redis = new Redis(REDIS_URL);
      const stream = `conformance-${randomUUID()}`;
      t.teardown(async () => {
        await redis.del(stream);
        redis.disconnect();
      });
      return {
        publish: async (bodies) => {
          const pipeline = redis.pipeline();
          for (const body of bodies) pipeline.xadd(stream, '*', 'body', body);
          await pipeline.exec();
        },
        adapter: () =>
          new RedisStreamsAdapter({
            url: REDIS_URL,
            stream,
            group: 'conformance',
            consumer: 'c1',
            claimIdleMs: 300,
            blockMs: 100,
          }),
        // Entries not acked: delivered and pending, plus not yet delivered (the group's lag).
        pending: async () => {
          const groups = await redis.xinfo('GROUPS', stream);
          const group = groups.map((g) => Object.fromEntries(chunk(g))).find((g) => g.name === 'conformance');
          return group ? Number(group.pending) + Number(group.lag ?? 0) : 0;
        },
        source: `redis-streams:${stream}`,
      };
    },
  },
  {
    name: 'amqp',
    features: { requeue: true, persistence: true, ordering: false, endsWithInput: false },
    need: needAmqp,
    async setup(t) {
      const amqp = await import('amqplib');
      const { AmqpAdapter } = await import('../../dist/adapters/amqp.js');
      const connection = await amqp.connect(AMQP_URL);
      const channel = await connection.createChannel();
      const queue = `conformance-${randomUUID()}`;
      await channel.assertQueue(queue);
      t.teardown(async () => {
        await channel.deleteQueue(queue);
        await connection.close();
      });
      return {
        publish: async (bodies) => {
          for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body));
          await channel.checkQueue(queue); // a round trip: everything sent before it has arrived
        },
        adapter: () => new AmqpAdapter({ url: AMQP_URL, queues: [queue] }),
        // Called once the adapter is closed, when unacked messages are ready again.
        pending: async () => (await channel.checkQueue(queue)).messageCount,
        source: `amqp:${queue}`,
      };
    },
  },
  {
    name: 'http',
    // A webhook sender that retries on 503 (nack, or the server is full) is what makes requeue hold.
    features: { requeue: true, persistence: false, ordering: false, endsWithInput: false },
    need: async () => ({}),
    async setup(t) {
      const { HttpAdapter } = await import('../../dist/adapters/http.js');
      let adapter;
      let stopped = false;
      const outstanding = new Set();
      t.teardown(() => {
        stopped = true;
      });
      const send = async (body) => {
        for (let attempt = 0; attempt < 200 && !stopped; attempt++) {
          try {
            const response = await fetch(`http://127.0.0.1:${adapter.port}/`, { method: 'POST', body });
            await response.text();
            if (response.status === 200) return;
          } catch {
            // the server stopped: the sender keeps the message
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      return {
        publish: async (bodies) => {
          for (const body of bodies) {
            const sending = send(body).finally(() => outstanding.delete(sending));
            outstanding.add(sending);
          }
        },
        adapter: () => (adapter = new HttpAdapter({ port: 0 })),
        // Answers already sent may still be on their way to the client: give them a moment to arrive.
        pending: async () => {
          await Promise.race([
            Promise.allSettled([...outstanding]),
            new Promise((resolve) => setTimeout(resolve, 2000)),
          ]);
          return outstanding.size;
        },
        source: 'http:/',
      };
    },
  },
  {
    name: 'nats',
    // One pull consumer gets a stream's messages in order; a nack is delivered again at once.
    features: { requeue: true, persistence: true, ordering: true, endsWithInput: false },
    need: needNats,
    async setup(t) {
      const { connect } = await import('nats');
      const { NatsAdapter } = await import('../../dist/adapters/nats.js');
      const nc = await connect({ servers: new URL(NATS_URL).host });
      const jsm = await nc.jetstreamManager();
      const stream = `conformance-${randomUUID()}`;
      const subject = `conformance.${stream}`;
      await jsm.streams.add({ name: stream, subjects: [subject] });
      t.teardown(async () => {
        await jsm.streams.delete(stream).catch(() => {});
        await nc.close();
      });
      return {
        publish: async (bodies) => {
          // Plain publishes go out in order on one connection, without a round trip each; then wait until the
          // stream holds them all.
          const { state } = await jsm.streams.info(stream);
          for (const body of bodies) nc.publish(subject, Buffer.from(body));
          await nc.flush();
          while ((await jsm.streams.info(stream)).state.last_seq < state.last_seq + bodies.length) await nc.flush();
        },
        adapter: () => new NatsAdapter({ url: NATS_URL, stream, consumer: 'conformance' }),
        // Not yet delivered, plus delivered and not acked (nacked ones included).
        pending: async () => {
          const info = await jsm.consumers.info(stream, 'conformance');
          return info.num_pending + info.num_ack_pending;
        },
        source: `nats:${stream}`,
      };
    },
  },
  {
    name: 'memory',
    // In-process: nothing survives the process, and a nacked message goes to the back of the queue.
    features: { requeue: true, persistence: false, ordering: true, endsWithInput: false },
    need: async () => ({}),
    async setup() {
      const { MemoryAdapter } = await import('../../dist/adapters/memory.js');
      let adapter;
      return {
        publish: async (bodies) => void adapter.publish(bodies),
        adapter: () => (adapter = new MemoryAdapter()),
        pending: async () => adapter.pending,
        source: 'memory',
      };
    },
  },
];

function chunk(flat) {
  const pairs = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([String(flat[i]), flat[i + 1]]);
  return pairs;
}
