import t from 'tap';
import { join } from 'node:path';
import { Processor, JsonMessage, MemoryDlq, PermanentError } from 'missive-node';
import { startPipeline } from '../dist/streams/pipeline.js';
import { ArrayAdapter } from './helpers/array-adapter.js';
import { fixture, readDeadLetters, readStats, runCli } from './helpers/cli.js';

t.test('a handler that fails twice then succeeds is acked after 3 attempts while other messages flow', async (t) => {
  const processor = new Processor(JsonMessage);
  const handled = [];
  const attempts = [];
  processor.handleFor(
    (m) => m.getJson().flaky === true,
    function flaky(m, ctx) {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error(`flaky dependency, attempt ${ctx.attempt}`);
      handled.push('flaky');
    },
    { retries: 3, backoff: { initialMs: 100, jitter: false } },
  );
  processor.handleFor(
    (m) => m.getJson().flaky === false,
    (m) => {
      handled.push(m.getJson().n);
    },
  );
  const bodies = [
    JSON.stringify({ flaky: true }),
    ...Array.from({ length: 200 }, (_, n) => JSON.stringify({ flaky: false, n })),
  ];
  const adapter = new ArrayAdapter(bodies);
  const dlq = new MemoryDlq();
  const pipeline = await startPipeline({ adapter, processor, dlq, threads: 0, batchSize: 10, lingerMs: 1 });
  const stats = await pipeline.done;
  t.same(attempts, [1, 2, 3]);
  t.equal(handled.at(-1), 'flaky', 'the other 200 messages were handled while it waited');
  t.equal(stats.acked, 201);
  t.equal(stats.retries, 2);
  t.equal(stats.deadLettered, 0);
  t.equal(await dlq.count(), 0);
});

t.test('retries run out: dead letter with the attempts recorded', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {
      throw new Error('always');
    },
    { retries: 2, backoff: () => 5 },
  );
  const dlq = new MemoryDlq();
  const pipeline = await startPipeline({ adapter: new ArrayAdapter(['x']), processor, dlq, threads: 0 });
  const stats = await pipeline.done;
  t.equal(stats.deadLettered, 1);
  const [letter] = await dlq.list();
  t.equal(letter.attempts, 3);
  t.equal(letter.reason, 'handler failed');
});

t.test('a permanent error is dead-lettered after 1 attempt, whatever the retries', async (t) => {
  const processor = new Processor();
  let calls = 0;
  processor.handleFor(
    (m) => m.rawData.toString() === 'p',
    () => {
      calls++;
      throw new PermanentError('card rejected');
    },
    { retries: 5, backoff: () => 1 },
  );
  processor.handleFor(
    (m) => m.rawData.toString() === 'r',
    () => {
      calls++;
      throw Object.assign(new Error('not retryable either'), { retryable: false });
    },
    { retries: 5, backoff: () => 1 },
  );
  const dlq = new MemoryDlq();
  const pipeline = await startPipeline({ adapter: new ArrayAdapter(['p', 'r']), processor, dlq, threads: 0 });
  const stats = await pipeline.done;
  t.equal(calls, 2);
  t.equal(stats.retries, 0);
  const letters = await dlq.list();
  t.same(
    letters.map((l) => l.attempts),
    [1, 1],
  );
  t.match(letters.find((l) => l.id === 'm0').error, /PermanentError: card rejected/);
});

t.test('the test client retries with the same rules', async (t) => {
  const processor = new Processor();
  processor.setDlq(new MemoryDlq());
  let calls = 0;
  processor.handleFor(
    () => true,
    (m, ctx) => {
      calls++;
      if (ctx.attempt < 2) throw new Error('once');
    },
    { retries: 1, backoff: () => 1 },
  );
  const client = processor.testClient();
  t.equal((await client.send('x')).outcome, 'acked');
  t.equal(calls, 2);
  t.equal(client.attempts.get(client.acked[0]), 2);
});

t.test('shutdown hands back messages waiting for a retry instead of dropping them', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {
      throw new Error('down');
    },
    { retries: 5, backoff: () => 60_000 },
  );
  const dlq = new MemoryDlq();
  const adapter = new ArrayAdapter(['a', 'b'], { canRequeue: true });
  const pipeline = await startPipeline({ adapter, processor, dlq, threads: 0 });
  while (pipeline.stats.retries < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const stats = await pipeline.stop();
  t.same(adapter.nacked.sort(), ['m0', 'm1'], 'requeued on a transport that redelivers');
  t.equal(stats.nacked, 2);
  t.equal(stats.deadLettered, 0);
  t.equal(await dlq.count(), 0);
});

t.test('handleFor refuses nonsense retries and timeouts', async (t) => {
  const processor = new Processor();
  t.throws(
    () =>
      processor.handleFor(
        () => true,
        () => {},
        { retries: -1 },
      ),
    { code: 'MISSIVE_ERR_INVALID_OPTION' },
  );
  t.throws(
    () =>
      processor.handleFor(
        () => true,
        () => {},
        { timeout: 0 },
      ),
    { code: 'MISSIVE_ERR_INVALID_OPTION' },
  );
});

t.test(
  'a hanging async handler and a while(true) handler both end as dead letters "timeout ..."; the run goes on',
  async (t) => {
    const dir = t.testdir();
    const lines = Array.from({ length: 3000 }, (_, i) => (i === 700 ? 'hang' : i === 1900 ? 'spin' : `ok-${i}`));
    const statsPath = join(dir, 'stats.json');
    const dlqPath = join(dir, 'd.duckdb');
    const result = await runCli(
      [
        'run',
        fixture('timeouts-processor.js'),
        '--threads',
        '2',
        '--batch-size',
        '100',
        '--dlq',
        dlqPath,
        '--stats-file',
        statsPath,
      ],
      { input: lines.join('\n') },
    );
    t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
    const stats = readStats(statsPath);
    t.equal(stats.received, 3000);
    t.equal(stats.acked, 2998, 'every other message was handled');
    t.equal(stats.deadLettered, 2);
    const letters = await readDeadLetters(dlqPath);
    const byBody = Object.fromEntries(letters.map((l) => [l.body.toString(), l]));
    t.equal(byBody.hang.reason, 'timeout after 300 ms');
    t.match(byBody.hang.error, /MISSIVE_ERR_TIMEOUT|ran longer than 300 ms/);
    t.equal(byBody.spin.reason, 'timeout after 300 ms');
    t.match(byBody.spin.error, /blocked its thread/);
  },
);

for (const threads of ['0', '1']) {
  t.test(
    `--threads ${threads}: a body the message class cannot decode, first asked for by the handler, is "decode failed" at once`,
    async (t) => {
      const dir = t.testdir();
      const statsPath = join(dir, 'stats.json');
      const dlqPath = join(dir, 'd.duckdb');
      const result = await runCli(
        [
          'run',
          fixture('strict-class-processor.js'),
          '--threads',
          threads,
          '--dlq',
          dlqPath,
          '--stats-file',
          statsPath,
        ],
        { input: '{"n":1}\n{"n":"two"}\n{"n":3}\n' },
      );
      t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
      const stats = readStats(statsPath);
      t.same([stats.acked, stats.deadLettered, stats.retries], [2, 1, 0], 'no retry spent on it');
      const [letter] = await readDeadLetters(dlqPath);
      t.equal(letter.reason, 'decode failed');
      t.equal(letter.attempts, 1);
      t.match(letter.error, /StrictMessage could not decode the message body: .*"n" must be a number/);
    },
  );
}

t.test('an adapter that fails to open leaves no worker threads behind', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {},
  );
  const adapter = new ArrayAdapter([]);
  adapter.open = async () => {
    throw new Error('broker unreachable');
  };
  const moduleUrl = new URL('./fixtures/reply-processor.js', import.meta.url).href;
  await t.rejects(
    startPipeline({ adapter, processor, dlq: new MemoryDlq(), threads: 2, moduleUrl }),
    /broker unreachable/,
  );
  // Piscina's threads have exited once close() resolved: the event loop has nothing of theirs left.
  const handles = process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort' || kind === 'Worker');
  t.same(handles, [], 'no worker handles remain');
});
