import t from 'tap';
import { MemoryDlq, Processor } from 'missive-node';
import { startPipeline } from '../dist/streams/pipeline.js';
import { ArrayAdapter } from './helpers/array-adapter.js';

const rpc = () => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    (m, ctx) => {
      ctx.reply({ echo: m.rawData.toString() });
    },
  );
  return processor;
};

t.test('the test client records ctx.reply answers', async (t) => {
  const client = rpc().testClient();
  await client.send('ping');
  t.equal(client.replies.length, 1);
  t.same(JSON.parse(client.replies[0].body.toString()), { echo: 'ping' });
});

t.test('replies are sent through the adapter before the message is acked', async (t) => {
  class ReplyingAdapter extends ArrayAdapter {
    events = [];
    reply(delivery, body) {
      this.events.push(`reply ${delivery.id} ${body}`);
    }
    ack(deliveries, kind) {
      for (const d of deliveries) this.events.push(`ack ${d.id}`);
      super.ack(deliveries, kind);
    }
  }
  for (const threads of [0, 1]) {
    const adapter = new ReplyingAdapter(['a', 'b']);
    const pipeline = await startPipeline({
      adapter,
      processor: rpc(),
      dlq: new MemoryDlq(),
      threads,
      moduleUrl: new URL('./fixtures/reply-processor.js', import.meta.url).href,
    });
    await pipeline.done;
    t.same(
      adapter.events,
      ['reply m0 {"echo":"a"}', 'reply m1 {"echo":"b"}', 'ack m0', 'ack m1'],
      `threads ${threads}`,
    );
  }
});

t.test('on a transport that cannot reply, the message is kept as a dead letter "reply failed"', async (t) => {
  const dlq = new MemoryDlq();
  const adapter = new ArrayAdapter(['a']);
  const pipeline = await startPipeline({ adapter, processor: rpc(), dlq, threads: 0 });
  const stats = await pipeline.done;
  t.equal(stats.deadLettered, 1);
  const [letter] = await dlq.list();
  t.equal(letter.reason, 'reply failed');
  t.match(letter.error, /cannot send replies/);
});
