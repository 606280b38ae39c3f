// Every missive dlq command on a file that a running missive run holds and writes to: the commands reach that
// process through its socket, see every letter committed so far, and purge and replay go through it. Also: the
// writer waits for a reader, letters are committed before the ack, read commands need read access only, and a
// write that fails on a full disk says so.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { socketPathFor } from '../dist/dlq/socket-path.js';
import { RemoteDlq } from '../dist/dlq/remote.js';
import { REDIS_URL, needRedis } from './helpers/brokers.js';
import { CLI, fixture, runCli, startCli } from './helpers/cli.js';
import { realpathSync, statSync } from 'node:fs';
import { sleep } from './helpers/http-clients.js';
import { until } from './helpers/until.js';

const dlqCli = (args, path) => runCli(['dlq', ...args, '--dlq', path]);

async function countIs(path, n) {
  const result = await dlqCli(['count'], path);
  return result.code === 0 && Number(result.stdout) === n;
}

function withStream(t) {
  const redis = new Redis(REDIS_URL);
  const stream = `dlq-concurrent-${randomUUID()}`;
  t.teardown(async () => {
    await redis.del(stream);
    redis.disconnect();
  });
  return { redis, stream };
}

async function pendingIds(redis, stream) {
  const pending = await redis.xpending(stream, 'g', '-', '+', 100000).catch(() => []);
  return new Set(pending.map((entry) => entry[0]));
}

const runArgs = (stream, path) => [
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
];

t.test('every dlq command works on a file a running missive run writes to', await needRedis(), async (t) => {
  const { redis, stream } = withStream(t);
  const path = join(t.testdir(), 'dead.duckdb');
  const run = startCli(runArgs(stream, path));
  t.teardown(() => run.child.kill('SIGKILL'));
  const add = async (bodies) => {
    const ids = [];
    for (const body of bodies) ids.push(await redis.xadd(stream, '*', 'body', body));
    return ids;
  };
  const fixed = (i) => JSON.stringify({ fixed: true, i });
  const broken = (i) => JSON.stringify({ fixed: false, i });
  const first = await add([
    ...Array.from({ length: 10 }, (_, i) => fixed(i)),
    ...Array.from({ length: 10 }, (_, i) => broken(i)),
  ]);
  await until(() => countIs(path, 20), '20 letters, counted while the run holds the file');

  const list = await dlqCli(['list', '--limit', '100'], path);
  t.equal(list.code, 0, list.stderr);
  t.equal(list.stdout.trimEnd().split('\n').length, 21, 'list: a heading and 20 letters');
  const show = await dlqCli(['show', first[0]], path);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, new RegExp(`^id\\s+${first[0]}\\n`));
  t.match(show.stdout, /refused/);
  const sql = await dlqCli(['sql', 'SELECT count(*) AS n, max(attempts) AS a FROM dead_letters', '--json'], path);
  t.equal(sql.code, 0, sql.stderr);
  t.same(JSON.parse(sql.stdout), [{ n: '20', a: 1 }]);
  const refused = await dlqCli(['sql', 'DELETE FROM dead_letters'], path);
  t.equal(refused.code, 2, 'sql through the socket is as read-only as anywhere');
  const exported = await dlqCli(['export'], path);
  t.equal(exported.code, 0, exported.stderr);
  t.equal(exported.stdout.trimEnd().split('\n').length, 20, 'export: 20 JSON lines');

  const more = await add(Array.from({ length: 5 }, (_, i) => broken(10 + i)));
  await until(() => countIs(path, 25), 'the letters committed since are seen');

  const replayed = await dlqCli(['replay', fixture('replay-processor.js')], path);
  t.equal(replayed.code, 0, replayed.stderr);
  t.equal(replayed.stdout, 'replayed 25: 10 handled, 15 failed again\n', 'replayed through the running process');
  const after = JSON.parse((await dlqCli(['list', '--json', '--limit', '100'], path)).stdout);
  t.equal(after.length, 15, 'handled letters deleted');
  t.ok(
    after.every((l) => l.attempts === 2 && JSON.parse(l.body).fixed === false),
    'the others tried once more',
  );

  const purged = await dlqCli(['purge', '--yes'], path);
  t.equal(purged.code, 0, purged.stderr);
  t.equal(purged.stdout, `deleted 15 dead letters from ${path}\n`);
  t.ok(await countIs(path, 0));

  const later = await add(Array.from({ length: 5 }, (_, i) => broken(100 + i)));
  await until(() => countIs(path, 5), 'the run keeps storing letters after a purge');

  // Letters are committed before the ack: whatever the group no longer has pending has its letter, even after
  // the run is killed without a chance to finish.
  await add(Array.from({ length: 200 }, (_, i) => broken(1000 + i)));
  await sleep(50);
  run.child.kill('SIGKILL');
  await run.done;
  const pending = await pendingIds(redis, stream);
  const stored = await DuckDbDlq.open(path, { readOnly: true });
  const ids = new Set((await stored.list({ limit: 100000 })).map((l) => l.id));
  await stored.close();
  const all = (await redis.xrange(stream, '-', '+')).map(([id]) => id);
  const delivered = (await redis.xinfo('GROUPS', stream))[0];
  const lastDelivered = String(delivered[delivered.indexOf('last-delivered-id') + 1]);
  const acked = all.filter(
    (id) => !pending.has(id) && compareIds(id, lastDelivered) <= 0 && !first.includes(id) && !more.includes(id),
  );
  t.ok(acked.length >= 5, `${acked.length} entries acked since the purge`);
  t.same(
    acked.filter((id) => !ids.has(id)),
    [],
    'every acked entry has its letter',
  );
  t.ok(later.every((id) => ids.has(id)));

  t.ok(existsSync(socketPathFor(realpathSync(path))), 'the killed run left its socket behind');
  t.ok(await countIs(path, ids.size), 'a stale socket: the command opens the file itself');
  const next = startCli(runArgs(stream, path));
  t.teardown(() => next.child.kill('SIGKILL'));
  await redis.xadd(stream, '*', 'body', broken(5000));
  const socketPath = socketPathFor(realpathSync(path));
  let remote;
  await until(async () => {
    remote = await RemoteDlq.connect(socketPath, realpathSync(path));
    return remote !== undefined;
  }, 'the new run answering on the socket the killed one left');
  t.equal(remote.pid, next.child.pid, "the socket is the new run's");
  await remote.close();
  await until(async () => {
    const result = await dlqCli(['count'], path);
    return result.code === 0 && Number(result.stdout) > ids.size;
  }, "the new run's letters counted");
  t.equal(statSync(socketPathFor(realpathSync(path))).mode & 0o777, 0o600, 'the socket is mode 0600');
  next.child.kill('SIGTERM');
  t.equal((await next.done).code, 0);
  t.notOk(existsSync(socketPathFor(realpathSync(path))), 'closing removes the socket');
});

function compareIds(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}

t.test(
  'a run that starts while a reader holds the file waits for it before reading, then stores its letters',
  await needRedis(),
  async (t) => {
    const { redis, stream } = withStream(t);
    const path = join(t.testdir(), 'dead.duckdb');
    const seed = await DuckDbDlq.open(path);
    await seed.put([{ id: 'seed', body: Buffer.from('seed'), reason: 'handler failed' }]);
    await seed.close();
    const reader = await DuckDbDlq.open(path, { readOnly: true });
    const run = startCli(runArgs(stream, path));
    t.teardown(() => run.child.kill('SIGKILL'));
    const id = await redis.xadd(stream, '*', 'body', 'fails while the file is read');
    await sleep(1500);
    t.notOk((await pendingIds(redis, stream)).has(id), 'nothing read while the store cannot be taken');
    t.equal(await reader.count(), 1, 'the reader reads meanwhile');
    await reader.close();
    await until(() => countIs(path, 2), 'the letter stored once the reader let go');
    await until(async () => !(await pendingIds(redis, stream)).has(id), 'then acked');
    run.child.kill('SIGTERM');
    const { code, stderr } = await run.done;
    t.equal(code, 0, stderr);
  },
);

const canUnshare = spawnSync('unshare', ['-m', 'true']).status === 0;
const unshareSkip = canUnshare
  ? {}
  : { skip: 'needs unshare -m (mount namespaces) for a read-only or full file system' };

t.test('the read commands need read access only: a read-only file system', unshareSkip, async (t) => {
  const dir = join(t.testdir(), 'ro');
  mkdirSync(dir);
  const path = join(dir, 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([
    { id: 'a', body: Buffer.from('first'), reason: 'handler failed' },
    { id: 'b', body: Buffer.from('second'), reason: 'nacked' },
  ]);
  await dlq.close();
  const inReadOnly = (args) => {
    const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
    const result = spawnSync(
      'unshare',
      ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, CLI, 'dlq', ...args, '--dlq', path],
      { encoding: 'utf8' },
    );
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const proof = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && touch "$1/x"`, 'sh', dir],
    { encoding: 'utf8' },
  );
  t.not(proof.status, 0, 'the directory is really read-only there');
  const count = inReadOnly(['count']);
  t.equal(count.code, 0, count.stderr);
  t.equal(count.stdout, '2\n');
  const list = inReadOnly(['list']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /first/);
  const show = inReadOnly(['show', 'b']);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /second/);
  const exported = inReadOnly(['export']);
  t.equal(exported.code, 0, exported.stderr);
  t.equal(exported.stdout.trimEnd().split('\n').length, 2);
  const sql = inReadOnly(['sql', 'SELECT count(*) FROM dead_letters']);
  t.equal(sql.code, 0, sql.stderr);
  const purge = inReadOnly(['purge', '--yes']);
  t.equal(purge.code, 1, 'purge needs to write');
  t.match(purge.stderr, /not writable/);
});

t.test('a write that fails on a full disk reports that, not the failed rollback after it', unshareSkip, async (t) => {
  const base = t.testdir();
  const dir = join(base, 'full');
  mkdirSync(dir);
  const script = join(base, 'fill.mjs');
  writeFileSync(
    script,
    `
    import { DuckDbDlq } from ${JSON.stringify(new URL('../dist/dlq/duckdb.js', import.meta.url).href)};
    const dlq = await DuckDbDlq.open(process.argv[2] + '/dead.duckdb');
    let stored = 0;
    try {
      for (let n = 0; n < 1000; n++) {
        await dlq.put(Array.from({ length: 50 }, (_, i) => ({ id: n + '-' + i, body: Buffer.alloc(20000, n + i), reason: 'handler failed' })));
        stored += 50;
      }
      console.log(JSON.stringify({ stored }));
    } catch (error) {
      console.log(JSON.stringify({ stored, code: error.code, message: error.message }));
    }
    await dlq.close().catch(() => {});
  `,
  );
  const result = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      'mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" "$3" "$1"',
      'sh',
      dir,
      process.execPath,
      script,
    ],
    { encoding: 'utf8' },
  );
  t.equal(result.status, 0, result.stderr);
  const outcome = JSON.parse(result.stdout);
  t.ok(outcome.stored < 50000, 'the 2 MB disk filled up');
  t.equal(outcome.code, 'MISSIVE_ERR_DLQ');
  t.match(outcome.message, /No space left on device/, 'the real cause');
  t.notMatch(outcome.message, /no transaction is active/);
  t.match(outcome.message, /must not be acked/);
});

t.test('a writer waits a bounded time for another process that reads, then says who reads', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const seed = await DuckDbDlq.open(path);
  await seed.put([{ id: 'seed', body: Buffer.from('seed'), reason: 'handler failed' }]);
  await seed.close();
  const module = new URL('../dist/dlq/duckdb.js', import.meta.url).href;
  const reader = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const { DuckDbDlq } = await import(${JSON.stringify(module)});
    const dlq = await DuckDbDlq.open(process.argv[1], { readOnly: true });
    console.log(await dlq.count());
    process.stdin.once('data', async () => { await dlq.close(); process.exit(0); });
  `,
      path,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => reader.kill('SIGKILL'));
  await new Promise((resolve) => reader.stdout.once('data', resolve));
  await t.rejects(DuckDbDlq.open(path, { lockWaitMs: 300 }), {
    code: 'MISSIVE_ERR_DLQ',
    message: new RegExp(
      `held for reading by process ${reader.pid} \\(a missive dlq command\\?\\) for longer than 300 ms`,
    ),
  });
  const waiting = DuckDbDlq.open(path, { lockWaitMs: 20000 });
  await sleep(300);
  reader.stdin.write('close\n');
  const dlq = await waiting;
  t.equal(await dlq.count(), 1, 'opened once the reader let go');
  await dlq.close();
});

t.test('a socket that accepts and never answers counts as nobody answering', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const held = await DuckDbDlq.open(path, { serve: false });
  await held.put([{ id: 'a', body: Buffer.from('a'), reason: 'handler failed' }]);
  const socketPath = socketPathFor(realpathSync(path));
  const connections = new Set();
  const silent = createServer((socket) => connections.add(socket));
  await new Promise((resolve) => silent.listen(socketPath, resolve));
  try {
    const result = await dlqCli(['count'], path);
    t.equal(result.code, 1);
    t.match(result.stderr, /is locked and nobody answers for it on .*: process \d+ holds it/);
    t.ok(connections.size > 0, 'the command did connect');
  } finally {
    for (const socket of connections) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await held.close();
  }
});
