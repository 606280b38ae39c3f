// run() as an embedding program uses it: the processor in the test's own process, real worker threads, a real
// DuckDB file, real streams, prom-client's real registry.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { MemoryDlq, run } from 'missive-node';
import { FileAdapter } from '../dist/adapters/file.js';
import { StdinAdapter } from '../dist/adapters/stdin.js';
import processor from './fixtures/embedded-processor.js';
import { readDeadLetters } from './helpers/cli.js';

const MODULE = new URL('./fixtures/embedded-processor.js', import.meta.url);
const lines = (...kinds) => kinds.map((kind, n) => JSON.stringify({ kind, n, pan: '4111' })).join('\n') + '\n';

t.test('runs on worker threads and resolves the figures at the end of input; letters in the file', async (t) => {
  const dir = t.testdir({ 'in.jsonl': lines('ok', 'bad', 'ok', 'ok', 'card') });
  const dlq = join(dir, 'dead.duckdb');
  const running = await run(processor, {
    module: MODULE,
    adapter: new FileAdapter([join(dir, 'in.jsonl')]),
    dlq,
    threads: 2,
  });
  const stats = await running.done;
  t.same([stats.received, stats.acked, stats.deadLettered, stats.unsettled], [5, 3, 2, 0]);
  const letters = await readDeadLetters(dlq);
  t.same(letters.map((l) => l.handler).sort(), ['charge', 'reject'], 'the file run() opened is closed again, readable');
});

t.test('module is required with worker threads, and says what to pass', async (t) => {
  await t.rejects(run(processor, { adapter: new StdinAdapter({ stream: new PassThrough() }) }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
  });
  await t.rejects(
    run(processor, { adapter: new StdinAdapter({ stream: new PassThrough() }) }),
    /pass import\.meta\.url/,
  );
});

t.test('stop() drains a run whose input has not ended; events, logger and metrics', async (t) => {
  const input = new PassThrough();
  const store = new MemoryDlq();
  const logged = [];
  const logger = {
    info: (fields, message) => logged.push(['info', message, fields]),
    warn: (fields, message) => logged.push(['warn', message, fields]),
    error: (fields, message) => logged.push(['error', message, fields]),
  };
  const registry = new Registry();
  const running = await run(processor, {
    module: fileURLToPath(MODULE),
    adapter: new StdinAdapter({ stream: input }),
    dlq: store,
    threads: 1,
    logger,
    metrics: registry,
  });
  const events = { acked: 0, dead: [] };
  running.on('acked', ({ count }) => (events.acked += count));
  running.on('dead-lettered', (event) => events.dead.push(event));
  input.write(lines('ok', 'bad', 'card', 'ok'));
  const deadline = Date.now() + 10_000;
  while (running.stats.acked + running.stats.deadLettered < 4 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const stats = await running.stop();
  t.same([stats.received, stats.acked, stats.deadLettered], [4, 2, 2], 'stopped with everything settled');
  t.equal(events.acked, 2, 'acked events add up');
  t.same(
    events.dead.map((e) => e.reason),
    ['handler failed', 'handler failed'],
  );
  const card = events.dead.find((e) => e.handler === 'charge');
  t.equal(card.letter.body.length, 0, 'a confidential letter comes without its body');
  t.equal(card.letter.error, null);
  t.match(events.dead.find((e) => e.handler === 'reject').letter.error, /rejected 1/);
  t.ok(
    logged.some(([level, message]) => level === 'warn' && message === 'dead letter'),
    'the logger got the dead-letter lines',
  );
  const text = await registry.metrics();
  t.match(text, /missive_messages_acked_total 2/, 'metrics in the given registry');
  t.equal(await store.count(), 2, 'the store passed in holds the letters, and stays open for its owner');
  input.end();
});

t.test('importing the package root loads no broker client and no DuckDB', async (t) => {
  const probe = `
    import { createRequire } from 'node:module';
    await import('missive-node');
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache).filter((f) => /node_modules\\/(ioredis|amqplib|nats|@duckdb|prom-client)\\//.test(f));
    console.log(JSON.stringify(loaded));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
  });
  t.equal(result.status, 0, result.stderr);
  t.same(JSON.parse(result.stdout), [], 'none of them');
});
