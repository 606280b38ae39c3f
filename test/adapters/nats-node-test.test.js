// The exported conformance suite outside tap: a plain node:test file, as the author of a transport in another
// repository writes it (`node --test`, or `node this-file.js`), importing only missive-node/testing and the adapter.
// Run here against NATS JetStream, and against standard input, which needs no server.
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { connect } from 'nats';
import { adapterConformance } from 'missive-node/testing';
import { StdinAdapter } from 'missive-node/adapters';
import { NatsAdapter } from '../../dist/adapters/nats.js';
import { NATS_URL, needNats } from '../helpers/brokers.js';

const { skip } = await needNats();

await adapterConformance(
  {
    name: 'nats',
    features: { requeue: true, persistence: true, ordering: true, endsWithInput: false },
    async setup({ teardown }) {
      const nc = await connect({ servers: new URL(NATS_URL).host });
      const jsm = await nc.jetstreamManager();
      const stream = `node-test-${randomUUID()}`;
      await jsm.streams.add({ name: stream, subjects: [`node-test.${stream}`] });
      teardown(async () => {
        await jsm.streams.delete(stream);
        await nc.close();
      });
      return {
        publish: async (bodies) => {
          // In order on one connection, no round trip each; then until the stream holds them all.
          const { state } = await jsm.streams.info(stream);
          for (const body of bodies) nc.publish(`node-test.${stream}`, Buffer.from(body));
          while ((await jsm.streams.info(stream)).state.last_seq < state.last_seq + bodies.length) await nc.flush();
        },
        adapter: () => new NatsAdapter({ url: NATS_URL, stream, consumer: 'suite' }),
        pending: async () => {
          const info = await jsm.consumers.info(stream, 'suite');
          return info.num_pending + info.num_ack_pending;
        },
        source: `nats:${stream}`,
      };
    },
  },
  { test: (name, fn) => test(name, { skip }, fn) },
);

await adapterConformance(
  {
    name: 'stdin',
    features: { requeue: false, persistence: false, ordering: true, endsWithInput: true },
    async setup() {
      const stream = new PassThrough();
      return {
        publish: async (bodies) => void stream.end(bodies.map((body) => `${body}\n`).join('')),
        adapter: () => new StdinAdapter({ stream }),
        pending: async () => 0,
        source: 'stdin',
      };
    },
  },
  { test },
);
