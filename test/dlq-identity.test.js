// A dead letter is one message: a different message with the same id never replaces it, in either store, through
// the CLI with real brokers (RabbitMQ messageId, Redis stream ids), and in files written by missive-node 0.1
// (migrated in place).
import t from 'tap';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { MemoryDlq } from '../dist/dlq/memory.js';
import { PostgresDlq } from '../dist/dlq/postgres/postgres-store.js';
import { needPostgres, testDatabase } from './helpers/postgres.js';
import { letterKey } from '../dist/dlq/letter-key.js';
import { Redis } from 'ioredis';
import { AMQP_URL, REDIS_URL, needAmqp, needRedis } from './helpers/brokers.js';
import { fixture, readStats, runCli, startCli } from './helpers/cli.js';
import { until } from './helpers/until.js';

const at = (s) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));
const letter = (id, body, fields = {}) => ({
  id,
  body: Buffer.from(body),
  reason: 'handler failed',
  source: 'amqp:q',
  ...fields,
});

/** The same assertions against every store: the rules are the Dlq interface's, not one store's. */
function storeRules(name, open) {
  t.test(`${name}: 100 different bodies with one id are 100 letters`, async (t) => {
    const dlq = await open(t);
    for (let i = 0; i < 100; i++) await dlq.put([letter('shared', `body ${i}`, { failedAt: at(i) })]);
    t.equal(await dlq.count(), 100);
    const all = await dlq.findById('shared');
    t.equal(all.length, 100, 'findById returns every letter with the id');
    t.same(
      all.map((l) => l.body.toString()),
      Array.from({ length: 100 }, (_, i) => `body ${i}`),
      'oldest first',
    );
    t.ok(
      all.every((l) => l.attempts === 1),
      "none counted as another one's attempt",
    );
    t.equal(new Set(all.map((l) => l.key)).size, 100, 'each its own key');
    t.equal((await dlq.get('shared')).body.toString(), 'body 99', 'get by id: the one that failed last');
    t.equal((await dlq.get(all[3].key)).body.toString(), 'body 3', 'get by key: that one');
    t.equal(await dlq.delete([all[0].key, all[1].key]), 2, 'delete by key deletes exactly those');
    t.equal(await dlq.count(), 98);
    t.equal(await dlq.get(all[0].key), undefined);
  });

  t.test(`${name}: the same message failing twice is one letter with attempts 2`, async (t) => {
    const dlq = await open(t);
    await dlq.put([letter('m', 'same bytes', { failedAt: at(1), error: 'first' })]);
    await dlq.put([letter('m', 'same bytes', { failedAt: at(2), error: 'second' })]);
    const [only, ...rest] = await dlq.findById('m');
    t.equal(rest.length, 0);
    t.equal(only.attempts, 2);
    t.equal(only.firstFailedAt.getTime(), at(1).getTime(), 'first failure kept');
    t.equal(only.error, 'second');
    t.equal(only.key, letterKey('amqp:q', 'm', Buffer.from('same bytes')), 'the one key function');
  });

  t.test(`${name}: the same id and bytes from another source is another letter`, async (t) => {
    const dlq = await open(t);
    await dlq.put([
      letter('1-0', 'x', { source: 'redis-streams:a' }),
      letter('1-0', 'x', { source: 'redis-streams:b' }),
    ]);
    await dlq.put([letter('1-0', 'x', { source: null }), letter('1-0', 'x', { source: '' })]);
    t.equal(await dlq.count(), 4, 'no source and an empty source differ too');
  });
}

storeRules('DuckDbDlq', async (t) => {
  const dlq = await DuckDbDlq.open(join(t.testdir(), 'dead.duckdb'));
  t.teardown(() => dlq.close());
  return dlq;
});
storeRules('MemoryDlq', async () => new MemoryDlq());
const postgres = await needPostgres();
/** A PostgresDlq in a database of the test's own. */
async function openPostgres(t) {
  const { url } = await testDatabase(t);
  const dlq = await PostgresDlq.open(url);
  t.teardown(() => dlq.close());
  return dlq;
}
if (postgres.skip) t.test('PostgresDlq', { ...postgres }, () => {});
else storeRules('PostgresDlq', openPostgres);

for (const [name, open, options] of [
  [
    'DuckDbDlq',
    async (t) => {
      const dlq = await DuckDbDlq.open(join(t.testdir(), 'dead.duckdb'));
      t.teardown(() => dlq.close());
      return dlq;
    },
    {},
  ],
  ['PostgresDlq', openPostgres, postgres],
]) {
  t.test(
    `${name}: a put of one message many times in one batch, and over a stored letter, counts every attempt`,
    { ...options },
    async (t) => {
      const dlq = await open(t);
      await dlq.put([letter('x', 'a'), letter('x', 'b'), letter('x', 'a')]);
      await dlq.put([letter('x', 'a'), letter('x', 'c')]);
      const byBody = Object.fromEntries((await dlq.findById('x')).map((l) => [l.body.toString(), l.attempts]));
      t.same(byBody, { a: 3, b: 1, c: 1 });
      await dlq.put([letter('x', 'c', { attempts: 9 })]);
      t.equal(
        (await dlq.findById('x')).find((l) => l.body.toString() === 'c').attempts,
        9,
        'a larger count given wins',
      );
    },
  );
}

// The table exactly as missive-node 0.1 created it: id the primary key, no key column.
const LEGACY_TABLE = `CREATE TABLE dead_letters (
  id VARCHAR PRIMARY KEY, body BLOB NOT NULL, reason VARCHAR NOT NULL, error VARCHAR, handler VARCHAR, source VARCHAR,
  headers JSON, attempts INTEGER NOT NULL, first_failed_at TIMESTAMPTZ NOT NULL, last_failed_at TIMESTAMPTZ NOT NULL,
  fingerprint_name VARCHAR, fingerprint_host VARCHAR, fingerprint_pid INTEGER, fingerprint_version VARCHAR,
  confidential BOOLEAN NOT NULL DEFAULT false)`;

async function legacyFile(t, rows = 3000) {
  const path = join(t.testdir(), 'old.duckdb');
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  await connection.run(LEGACY_TABLE);
  await connection.run(`INSERT INTO dead_letters
    SELECT 'old-' || lpad(i::VARCHAR, 5, '0'), encode('body ' || i), 'handler failed', 'Error: ' || i, 'orders',
      CASE WHEN i % 2 = 0 THEN 'amqp:orders' ELSE NULL END, '{"routingKey":"orders"}', 1 + i % 4,
      TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i), TIMESTAMPTZ '2024-01-02 00:00:00+00', 'old', 'host', 7, '0.1.0',
      i % 10 = 0
    FROM range(${rows}) AS r(i)`);
  connection.closeSync();
  instance.closeSync();
  return path;
}

t.test(
  'a file of missive-node 0.1 is read as it is read-only, and migrated in place when opened for writing',
  async (t) => {
    const path = await legacyFile(t);
    const reader = await DuckDbDlq.open(path, { readOnly: true });
    t.equal(await reader.count(), 3000, 'read-only: read as it is');
    const old7 = (await reader.findById('old-00007'))[0];
    t.equal(old7.key, letterKey(null, 'old-00007', Buffer.from('body 7')), 'with the keys it will have once migrated');
    t.equal((await reader.get(old7.key)).id, 'old-00007', 'found by key too');
    let n = 0;
    for await (const l of reader) if (l.id === `old-${String(n).padStart(5, '0')}`) n++;
    t.equal(n, 3000, 'iterated in order');
    await t.rejects(reader.put([letter('x', 'y')]), { message: /read-only/ });
    await reader.close();

    const dlq = await DuckDbDlq.open(path);
    t.teardown(() => dlq.close());
    t.equal(await dlq.count(), 3000, 'every letter kept');
    const migrated = (await dlq.findById('old-00008'))[0];
    t.match(migrated, {
      key: letterKey('amqp:orders', 'old-00008', Buffer.from('body 8')),
      reason: 'handler failed',
      error: 'Error: 8',
      attempts: 1,
      headers: { routingKey: 'orders' },
      confidential: false,
      fingerprint: { name: 'old', host: 'host', pid: 7, version: '0.1.0' },
    });
    t.equal((await dlq.findById('old-00010'))[0].confidential, true);
    t.equal(migrated.firstFailedAt.toISOString(), '2024-01-01T00:00:08.000Z');

    await dlq.put([letter('old-00008', 'body 8', { source: 'amqp:orders' })]);
    t.equal((await dlq.get(migrated.key)).attempts, 2, 'the same message failing again updates its migrated letter');
    await dlq.put([letter('old-00008', 'another body', { source: 'amqp:orders' })]);
    t.equal((await dlq.findById('old-00008')).length, 2, 'a different message with its id is a letter of its own');
    t.equal(await dlq.count(), 3001);
  },
);

t.test('a migrated file opens as a current one; the CLI reads 0.1 files and migrates them on a write', async (t) => {
  const path = await legacyFile(t, 10);
  const count = await runCli(['dlq', 'count', '--dlq', path]);
  t.equal(count.code, 0, count.stderr);
  t.equal(count.stdout, '10\n');
  const purged = await runCli([
    'dlq',
    'purge',
    '--yes',
    '--reason',
    'handler failed',
    '--since',
    '2024-01-02',
    '--dlq',
    path,
  ]);
  t.equal(purged.code, 0, purged.stderr);
  t.match(purged.stdout, /^deleted 10 dead letters/);
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  const columns = (await connection.runAndReadAll('SELECT column_name FROM (DESCRIBE dead_letters)'))
    .getRows()
    .map((r) => r[0]);
  connection.closeSync();
  instance.closeSync();
  t.equal(columns[0], 'key', 'the table has its key column now');
});

t.test('missive dlq show ID lists every letter with that id, and shows one by its key', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([
    letter('dup', 'first body', { failedAt: at(1) }),
    letter('dup', 'second body', { failedAt: at(2) }),
    letter('solo', 'alone'),
  ]);
  const keys = (await dlq.findById('dup')).map((l) => l.key);
  await dlq.close();

  const several = await runCli(['dlq', 'show', 'dup', '--dlq', path]);
  t.equal(several.code, 0, several.stderr);
  t.match(several.stdout, /^2 dead letters have id "dup":\nID\s+KEY\s+REASON/);
  for (const key of keys) t.match(several.stdout, key);
  t.match(several.stdout, /first body[\s\S]*second body/);
  t.match(several.stderr, /show one of them with missive dlq show KEY/);

  const json = await runCli(['dlq', 'show', 'dup', '--json', '--dlq', path]);
  t.same(
    JSON.parse(json.stdout).map((l) => l.body),
    ['first body', 'second body'],
  );

  const one = await runCli(['dlq', 'show', keys[1], '--dlq', path]);
  t.equal(one.code, 0);
  t.match(one.stdout, new RegExp(`^id\\s+dup\\nkey\\s+${keys[1]}\\n`));
  t.match(one.stdout, /second body/);
  t.notMatch(one.stdout, /first body/);
  const solo = await runCli(['dlq', 'show', 'solo', '--dlq', path]);
  t.match(solo.stdout, /^id\s+solo\n/);
});

t.test(
  'missive run: 100 different AMQP bodies sent with one messageId are 100 dead letters',
  await needAmqp(),
  async (t) => {
    const dir = t.testdir();
    const queue = `identity-${randomUUID()}`;
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true });
    t.teardown(async () => {
      await channel.deleteQueue(queue).catch(() => {});
      await connection.close();
    });
    for (let i = 0; i < 100; i++)
      channel.sendToQueue(queue, Buffer.from(`{"order":${i}}`), { messageId: 'order-created' });
    // One message sent twice, so its second failure is its letter's second attempt.
    for (let i = 0; i < 2; i++) channel.sendToQueue(queue, Buffer.from('twice'), { messageId: 'again' });
    const path = join(dir, 'dead.duckdb');
    const stats = join(dir, 'stats.json');
    const run = startCli([
      'run',
      fixture('always-fails-processor.js'),
      '--adapter',
      'amqp',
      '--amqp-url',
      AMQP_URL,
      '--queue',
      queue,
      '--threads',
      '0',
      '--dlq',
      path,
      '--stats-file',
      stats,
    ]);
    await until(async () => (await channel.checkQueue(queue)).messageCount === 0, 'the queue drained');
    await until(async () => {
      const result = await runCli(['dlq', 'count', '--dlq', path]);
      return result.code === 0 && Number(result.stdout) === 101;
    }, '101 letters');
    run.child.kill('SIGTERM');
    const { code, stderr } = await run.done;
    t.equal(code, 0, stderr);
    t.equal(readStats(stats).deadLettered, 102, 'the run dead-lettered 102 deliveries');

    const dlq = await DuckDbDlq.open(path, { readOnly: true });
    t.teardown(() => dlq.close());
    const orders = await dlq.findById('order-created');
    t.equal(orders.length, 100, 'each body its own letter');
    t.same(orders.map((l) => l.body.toString()).sort(), Array.from({ length: 100 }, (_, i) => `{"order":${i}}`).sort());
    const again = await dlq.findById('again');
    t.equal(again.length, 1);
    t.equal(again[0].attempts, 2, 'the same message twice: one letter, attempts 2');
  },
);

t.test(
  'missive run: entries of two Redis streams that share ids and bodies are letters of their own',
  await needRedis(),
  async (t) => {
    const redis = new Redis(REDIS_URL);
    const streams = [`identity-a-${randomUUID()}`, `identity-b-${randomUUID()}`];
    t.teardown(async () => {
      await redis.del(...streams);
      redis.disconnect();
    });
    const path = join(t.testdir(), 'dead.duckdb');
    for (const [n, stream] of streams.entries()) {
      for (let i = 1; i <= 5; i++) await redis.xadd(stream, `1-${i}`, 'body', `same body ${i}`);
      const run = startCli([
        'run',
        fixture('always-fails-processor.js'),
        '--adapter',
        'redis-streams',
        '--redis-url',
        REDIS_URL,
        '--stream',
        stream,
        '--group',
        'g',
        '--block',
        '100',
        '--threads',
        '0',
        '--dlq',
        path,
      ]);
      await until(
        async () => {
          const result = await runCli(['dlq', 'count', '--dlq', path]);
          return result.code === 0 && Number(result.stdout) === 5 * (n + 1);
        },
        `the letters of stream ${n + 1}`,
      );
      run.child.kill('SIGTERM');
      t.equal((await run.done).code, 0);
    }
    const dlq = await DuckDbDlq.open(path, { readOnly: true });
    t.teardown(() => dlq.close());
    const both = await dlq.findById('1-3');
    t.same(both.map((l) => l.source).sort(), streams.map((s) => `redis-streams:${s}`).sort(), 'one letter per stream');
    t.ok(both.every((l) => l.attempts === 1 && l.body.toString() === 'same body 3'));
  },
);

t.test('HTTP webhooks with one Idempotency-Key and different bodies: a DuckDB letter each', async (t) => {
  const { HttpAdapter } = await import('../dist/adapters/http.js');
  const { startPipeline } = await import('../dist/streams/pipeline.js');
  const { default: processor } = await import('./fixtures/always-fails-processor.js');
  const dlq = await DuckDbDlq.open(join(t.testdir(), 'dead.duckdb'));
  t.teardown(() => dlq.close());
  const adapter = new HttpAdapter({ port: 0 });
  const pipeline = await startPipeline({ adapter, processor, dlq, threads: 0, log: () => {} });
  const post = (body) =>
    fetch(`http://127.0.0.1:${adapter.port}/`, { method: 'POST', body, headers: { 'Idempotency-Key': 'checkout-42' } });
  const answers = [];
  for (let i = 0; i < 20; i++) answers.push((await post(`{"attempt":${i}}`)).status);
  answers.push((await post('{"attempt":0}')).status);
  await pipeline.stop();
  await pipeline.done;
  t.ok(
    answers.every((status) => status === 200),
    'each stored, then answered 200',
  );
  const letters = await dlq.findById('checkout-42');
  t.equal(letters.length, 20, '20 different bodies, 20 letters');
  t.equal(letters.find((l) => l.body.toString() === '{"attempt":0}').attempts, 2, 'the body sent twice: attempts 2');
});
