// The test client with worker threads: what only a real run on threads shows, caught in a unit test.
import t from 'tap';
import { MemoryDlq, Processor, run } from 'missive-node';
import { MemoryAdapter } from 'missive-node/adapters';
import processor from './fixtures/test-client-processor.js';
import workerOnly from './fixtures/test-client-worker-only-processor.js';
import reordered from './fixtures/test-client-reordered-processor.js';
import options from './fixtures/test-client-options-processor.js';

const fixture = (name) => new URL(`./fixtures/${name}`, import.meta.url);
const client = (t, p, name, more = {}) => {
  const made = p.testClient({ threads: 1, module: fixture(name), retryDelays: 0, ...more });
  t.teardown(() => made.close().catch(() => {}));
  return made;
};

t.test('handlers run in a worker thread, and redelivery after a nack works there too', async (t) => {
  const c = client(t, processor, 'test-client-processor.js');
  t.same(await c.send({ kind: 'where' }), { outcome: 'acked' });
  const answer = JSON.parse(c.replies[0].body.toString());
  t.not(answer.threadId, 0, 'not the main thread');
  t.same(await c.send({ kind: 'nack-twice' }, { id: 'n' }), { outcome: 'acked' });
  t.same(
    c.nacked.map((m) => m.meta.deliveryCount),
    [1, 2],
  );
  t.equal(c.handled.at(-1).meta.deliveryCount, 3);
  await c.close();
});

t.test('a route registered only in workers fails the run at start, naming the route', async (t) => {
  const c = client(t, workerOnly, 'test-client-worker-only-processor.js');
  await t.rejects(c.send('a'), {
    code: 'MISSIVE_ERR_PROCESSOR_MODULE',
    message:
      /other routes in a worker thread than in the main thread: route 1 "inWorkersOnly" is registered in the worker only\. .*isMainThread/,
  });
  await t.rejects(c.send('a'), { code: 'MISSIVE_ERR_PROCESSOR_MODULE' }, 'every later send says the same');
  t.equal(c.acked.length, 0, 'nothing ran');
});

t.test('routes registered in another order in workers: the first difference is named', async (t) => {
  const c = client(t, reordered, 'test-client-reordered-processor.js');
  await t.rejects(c.send('order'), { message: /route 0 is "order" in the main thread but "refund" in the worker/ });
});

t.test('a route whose options differ in workers: both sets of options are shown', async (t) => {
  const c = client(t, options, 'test-client-options-processor.js');
  await t.rejects(c.send('x'), {
    message:
      /route 0 "charge" has options \{retries: 2, timeout: 1000\} in the main thread but \{retries: 2, timeout: 5000\} in the worker/,
  });
});

t.test('the same check in run(): the adapter is never opened, so no input is read', async (t) => {
  const adapter = new MemoryAdapter();
  let opened = false;
  const open = adapter.open.bind(adapter);
  adapter.open = (o) => ((opened = true), open(o));
  await t.rejects(
    run(reordered, {
      adapter,
      dlq: new MemoryDlq(),
      threads: 2,
      module: fixture('test-client-reordered-processor.js'),
    }),
    { code: 'MISSIVE_ERR_PROCESSOR_MODULE', message: /route 0 is "order" in the main thread but "refund"/ },
  );
  t.notOk(opened);
  const handles = process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort' || kind === 'Worker');
  t.same(handles, [], 'the workers are gone');
});

t.test(
  'metadata that cannot cross to a worker thread is refused with a clear error; a class instance arrives plain',
  async (t) => {
    const c = client(t, processor, 'test-client-processor.js');
    await t.rejects(c.send({ kind: 'where' }, { meta: { tag: () => 'x' } }), {
      code: 'MISSIVE_ERR_INVALID_OPTION',
      message: /meta cannot cross to a worker thread \(.*could not be cloned.*\); keep it to plain objects/,
    });
    class Tag {
      constructor(name) {
        this.name = name;
      }
    }
    t.same(await c.send({ kind: 'where' }, { meta: { tag: new Tag('vip') } }), { outcome: 'acked' });
    t.equal(
      JSON.parse(c.replies[0].body.toString()).tagIsPlain,
      true,
      'the handler sees a plain object, as it would in a run',
    );
  },
);

t.test('a CPU-bound handler past its timeout is dead-lettered by the watchdog, and the worker replaced', async (t) => {
  const c = client(t, processor, 'test-client-processor.js');
  const result = await c.send({ kind: 'spin' }, { id: 's' });
  t.equal(result.outcome, 'dead-lettered');
  t.equal(result.reason, 'timeout after 200 ms');
  t.match(result.error, /blocked its thread past its timeout of 200 ms; the worker was replaced/);
  t.equal((await c.dlq.get('s')).reason, 'timeout after 200 ms');
  t.same(await c.send({ kind: 'where' }), { outcome: 'acked' }, 'the next message runs on the new worker');
});

t.test(
  'a rejection a handler did not await is caught in the worker: counted, and its message a dead letter',
  async (t) => {
    const c = client(t, processor, 'test-client-processor.js');
    t.match(await c.send({ kind: 'stray' }), {
      outcome: 'dead-lettered',
      reason: 'unhandled error',
      error: /Error: forgotten/,
    });
    t.equal(c.unhandledErrors, 1);
  },
);

t.test('module must default-export the processor the client is for', async (t) => {
  const other = new Processor();
  other.handleFor(
    () => true,
    () => {},
  );
  const c = client(t, other, 'test-client-processor.js');
  await t.rejects(c.send('x'), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /does not default-export the processor testClient was called on/,
  });
});

t.test('threads without module: the error says what to pass', async (t) => {
  const c = processor.testClient({ threads: 1 });
  await t.rejects(c.send({ kind: 'where' }), { code: 'MISSIVE_ERR_INVALID_OPTION', message: /needs options\.module/ });
});

t.test(
  'a beforeProcessing hook that fails in the worker fails this send and every later one, with its error',
  async (t) => {
    const { default: failing } = await import('./fixtures/test-client-failing-hook-processor.js');
    const c = failing.testClient({ threads: 1, module: fixture('test-client-failing-hook-processor.js') });
    const hookFailed = {
      code: 'MISSIVE_ERR_PROCESSING_HOOK',
      message: /beforeProcessing hook failed: database unreachable/,
    };
    await t.rejects(c.send('x'), hookFailed);
    await t.rejects(c.send('y'), hookFailed);
    await t.rejects(c.close(), hookFailed, 'close() reports it too');
  },
);
