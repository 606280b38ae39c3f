// The fleet the PostgreSQL store is for: three `missive run` on one Redis Streams group writing one database while
// a fourth process reads it (`dlq list`, `dlq serve`); one run SIGKILLed and the database connections cut mid-run.
// Every message ends up stored once: no letter lost, none doubled.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL, needRedis } from './helpers/brokers.js';
import { fixture, runCli, startCli, waitForOutput } from './helpers/cli.js';
import { adminQuery, cutConnections, needPostgres, relay, testDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { call, startServe } from './fixtures/serve-helpers.js';

const redisNeed = await needRedis();
const pgNeed = await needPostgres();
const need = redisNeed.skip ? redisNeed : pgNeed;

t.test('three runs on one group, one SIGKILLed, connections cut: every message stored once', { ...need }, async (t) => {
  const { url, name } = await testDatabase(t);
  const redis = new Redis(REDIS_URL);
  const stream = `pg-fleet-${randomUUID()}`;
  t.teardown(async () => {
    await redis.del(stream);
    redis.disconnect();
  });
  const N = 3000;
  const args = (consumer) => [
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
    '--consumer',
    consumer,
    '--claim-idle',
    '1000',
    '--block',
    '200',
    '--threads',
    '0',
    '--batch-size',
    '50',
    '--dlq',
    url,
    '--log-level',
    'warn',
  ];
  const runs = ['c0', 'c1', 'c2'].map((consumer) => startCli(args(consumer)));
  t.teardown(() =>
    Promise.all(runs.map((run) => (run.child.exitCode === null ? (run.child.kill('SIGKILL'), run.done) : undefined))),
  );
  // The group exists once a run has started on it; the three join before the messages come.
  await until(async () => (await redis.exists(stream)) === 1, 'the group created');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const count = async () =>
    (await adminQuery('SELECT count(*)::int AS n FROM missive.dead_letters', [], name)).rows[0].n;
  const { base } = await startServe(t, url);
  // Fed over a few seconds, so that the kill and the cut land while messages still arrive.
  const feeding = (async () => {
    for (let start = 0; start < N; start += 100) {
      const pipeline = redis.pipeline();
      for (let i = start; i < start + 100; i++) pipeline.xadd(stream, '*', 'body', `m-${i}`);
      await pipeline.exec();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  await until(async () => (await count()) >= N / 4, 'a quarter stored');
  runs[0].child.kill('SIGKILL');
  t.equal((await runs[0].done).signal, 'SIGKILL', 'one run killed mid-run');
  const listed = await runCli(['dlq', 'list', '--dlq', url, '--limit', '5']);
  t.equal(listed.code, 0, 'dlq list reads the store while the runs write it', { stderr: listed.stderr });
  const view = await call(base, '/api/view');
  t.equal(view.status, 200, 'the page too');
  t.ok(view.json.total > 0, `the page counts ${view.json.total} letters`);
  await until(async () => (await count()) >= N / 2, 'half stored');
  t.ok((await cutConnections(name)) > 0, 'connections cut mid-run');
  t.ok((await count()) < N, 'while messages still arrive');
  await feeding;

  const pending = async () => {
    const groups = await redis.xinfo('GROUPS', stream);
    const g = groups.find((entry) => entry[1] === 'g');
    return Number(g[g.indexOf('pending') + 1]);
  };
  await until(async () => (await count()) === N && (await pending()) === 0, 'every message stored and acked', 120_000);
  for (const run of runs.slice(1)) run.child.kill('SIGTERM');
  for (const run of runs.slice(1)) {
    const result = await run.done;
    t.equal(result.code, 0, 'a surviving run stops cleanly', {
      signal: result.signal,
      stderr: result.stderr.slice(-3000),
    });
  }
  const { rows } = await adminQuery(
    "SELECT convert_from(body, 'UTF8') AS body, attempts FROM missive.dead_letters",
    [],
    name,
  );
  t.equal(rows.length, N, 'one letter per message');
  t.equal(new Set(rows.map((row) => row.body)).size, N, 'every message, none twice');
  // Redis Streams delivers at least once: entries of the killed run, and of a run busy past --claim-idle, are
  // claimed and fail again elsewhere; each is still one letter, its attempts counting every failure.
  const again = rows.filter((row) => row.attempts > 1).length;
  t.ok(
    rows.every((row) => row.attempts >= 1),
    `every letter counted (${again} failed in two runs, one letter each)`,
  );
});

t.test(
  'the database away while a run reads Redis Streams: nothing acked, the messages wait with the broker',
  { ...need },
  async (t) => {
    const { url, name } = await testDatabase(t);
    const gate = await relay(url);
    t.teardown(() => gate.close());
    const redis = new Redis(REDIS_URL);
    const stream = `pg-away-${randomUUID()}`;
    t.teardown(async () => {
      await redis.del(stream);
      redis.disconnect();
    });
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
      '200',
      '--threads',
      '0',
      '--max-in-flight',
      '100',
      '--dlq',
      gate.url,
    ]);
    t.teardown(() => (run.child.exitCode === null ? (run.child.kill('SIGKILL'), run.done) : undefined));
    await waitForOutput(run, /"msg":"running"/);
    const count = async () =>
      (await adminQuery('SELECT count(*)::int AS n FROM missive.dead_letters', [], name)).rows[0].n;
    const groupState = async () => {
      const g = (await redis.xinfo('GROUPS', stream)).find((entry) => entry[1] === 'g');
      return { pending: Number(g[g.indexOf('pending') + 1]), lag: Number(g[g.indexOf('lag') + 1]) };
    };
    const add = async (from, n) => {
      const pipeline = redis.pipeline();
      for (let i = from; i < from + n; i++) pipeline.xadd(stream, '*', 'body', `m-${i}`);
      await pipeline.exec();
    };
    await add(0, 50);
    await until(
      async () => (await count()) === 50 && (await groupState()).pending === 0,
      'the first 50 stored and acked',
    );
    await gate.cut();
    await add(50, 500);
    await waitForOutput(run, /dead-letter store unreachable; retrying/);
    await until(async () => (await groupState()).pending >= 100, 'the capped in-flight messages read');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const away = await groupState();
    t.equal(await count(), 50, 'nothing stored while the database is away');
    t.ok(away.pending >= 100 && away.pending < 500, `read but not acked: ${away.pending} pending with the broker`);
    t.ok(away.lag > 0, `consumption paused: ${away.lag} not even read`);
    await gate.restore();
    await until(
      async () => (await count()) === 550 && (await groupState()).pending === 0,
      'every message stored, then acked',
      120_000,
    );
    run.child.kill('SIGTERM');
    const result = await run.done;
    t.equal(result.code, 0, { stderr: result.stderr.slice(-2000) });
    t.match(result.stderr, /dead-letter store reachable again/);
    const { rows } = await adminQuery(
      'SELECT count(*)::int AS n, max(attempts) AS most FROM missive.dead_letters',
      [],
      name,
    );
    t.same(rows[0], { n: 550, most: 1 }, 'each message one letter, none counted twice');
  },
);
