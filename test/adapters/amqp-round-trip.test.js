// The round trip that confirms acks (AmqpAdapter.ackConfirmed): against a real broker, its answer comes only after
// RabbitMQ applied the acks sent before it, so a connection cut right after it requeues none of them; on a closed
// channel it rejects; and without amqplib's callback RPC it falls back to channel.prefetch.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { roundTrip } from '../../dist/adapters/amqp-round-trip.js';
import { AMQP_URL, needAmqp } from '../helpers/brokers.js';
import { sleep } from '../helpers/http-clients.js';

t.test('without amqplib’s callback RPC it is a channel.prefetch with the same count', async (t) => {
  const asked = [];
  const channel = { prefetch: async (count) => void asked.push(count) };
  await roundTrip(channel, 250);
  t.same(asked, [250]);
});

t.test('with RabbitMQ', await needAmqp(), async (t) => {
  const admin = await amqp.connect(AMQP_URL);
  const adminChannel = await admin.createChannel();
  const queue = `missive-test-round-trip-${randomUUID()}`;
  await adminChannel.assertQueue(queue, { durable: true });
  t.teardown(async () => {
    await adminChannel.deleteQueue(queue).catch(() => {});
    await admin.close().catch(() => {});
  });

  t.test('acks sent before it are applied when it answers: cutting the connection then requeues none', async (t) => {
    const count = 40;
    for (let i = 0; i < count; i++) adminChannel.sendToQueue(queue, Buffer.from(`m${i}`));
    const consumer = await amqp.connect(AMQP_URL);
    consumer.on('error', () => {});
    const channel = await consumer.createChannel();
    channel.on('error', () => {});
    await channel.prefetch(count);
    const received = [];
    await new Promise((resolve) => {
      void channel.consume(queue, (message) => {
        received.push(message);
        if (received.length === count) resolve();
      });
    });
    channel.ack(received.at(-1), true);
    await roundTrip(channel, count);
    // No channel or connection close, whose handshake would itself wait behind the acks: the socket just goes
    // (with an error, or amqplib would not notice, and its heartbeat timer would keep the test alive).
    consumer.connection.stream.destroy(new Error('cut by the test'));
    // The broker requeues a lost channel's unacked messages as it drops its consumer.
    let state = await adminChannel.checkQueue(queue);
    for (let waited = 0; state.consumerCount > 0 && waited < 5000; waited += 50) {
      await sleep(50);
      state = await adminChannel.checkQueue(queue);
    }
    t.equal(state.consumerCount, 0, 'the broker dropped the consumer');
    t.equal(state.messageCount, 0, 'every acked message stayed acked');
  });

  t.test('on a closed channel it rejects', async (t) => {
    const connection = await amqp.connect(AMQP_URL);
    t.teardown(() => connection.close().catch(() => {}));
    const channel = await connection.createChannel();
    await channel.close();
    await t.rejects(roundTrip(channel, 10));
  });
});
