// `missive run --adapter redis-streams` against a redis-server of the test's own that is killed (SIGKILL) and
// started again: a consumer waits out an outage of any length and resumes by itself, counts as acked only what
// XACK confirmed, and a SIGTERM while Redis is down ends the run within its drain timeout.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fixture, readStats, startCli, waitForOutput } from '../helpers/cli.js';
import { needRedisServer, ownRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

/**
 * Longer than ioredis gave a command before (20 reconnections, at most 5 s apart with full jitter: about 41 s on
 * average, 55 s only once in a hundred runs), after which the old consumer failed with `Reached the max retries per
 * request limit` and exit 1.
 */
const OUTAGE_MS = 58_000;

const recorded = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

function workDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'missive-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A client of the test's own server that never waits for it (every call fails at once while it is down);
 * `ready()` resolves once it is connected again.
 */
async function client(t, url) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 100,
  });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  await redis.connect();
  redis.ready = () => until(() => redis.status === 'ready', 'the test client to reconnect', 20000);
  return redis;
}

async function add(redis, stream, from, to) {
  const pipeline = redis.pipeline();
  for (let i = from; i < to; i++) pipeline.xadd(stream, '*', 'body', `m-${i}`);
  for (const [error] of await pipeline.exec()) if (error) throw error;
}

/** How many entries the group has read: those up to its last delivered id. Acked = read - pending. */
async function entriesRead(redis, stream) {
  const [group] = await redis.xinfo('GROUPS', stream);
  const last = String(group[group.indexOf('last-delivered-id') + 1]);
  return (await redis.xrange(stream, '-', last)).length;
}

const pending = async (redis, stream) => Number((await redis.xpending(stream, 'g'))[0]);

const runArgs = (url, dir, extra = []) => [
  'run',
  fixture('record-processor.js'),
  '--adapter',
  'redis-streams',
  '--redis-url',
  url,
  '--stream',
  's',
  '--group',
  'g',
  '--consumer',
  'c',
  '--claim-idle',
  '2000',
  '--block',
  '200',
  '--threads',
  '1',
  '--dlq',
  join(dir, 'dlq.duckdb'),
  '--stats-file',
  join(dir, 'stats.json'),
  ...extra,
];

t.test(
  'Redis down for a minute: the run waits, resumes by itself, and every entry is handled and acked',
  needRedisServer(),
  async (t) => {
    const server = await ownRedisServer(t);
    const dir = workDir(t);
    const record = join(dir, 'record');
    const redis = await client(t, server.url);
    const N = 300;
    await add(redis, 's', 0, N);
    const run = startCli(runArgs(server.url, dir), { env: { RECORD_FILE: record, HANDLE_MS: '10' } });
    t.teardown(() => run.child.kill('SIGKILL'));
    await until(() => recorded(record).length >= 30, 'the first entries handled', 60000);
    await server.kill();
    const downAt = Date.now();
    await waitForOutput(run, /lost the connection to Redis/);
    await until(
      () => Date.now() - downAt >= OUTAGE_MS || run.child.exitCode !== null,
      'the outage to last',
      OUTAGE_MS + 5000,
    );
    t.equal(run.child.exitCode, null, `the run outlived ${OUTAGE_MS / 1000} s without Redis`, {
      stderr: run.child.exitCode === null ? undefined : run.output().stderr.slice(-1000),
    });
    await server.start();
    await redis.ready();
    await add(redis, 's', N, 2 * N);
    const all = () => new Set(recorded(record));
    await until(
      async () => all().size === 2 * N && (await pending(redis, 's')) === 0,
      'every entry handled and acked',
      90000,
    );
    run.child.kill('SIGTERM');
    const { code, stderr } = await run.done;
    t.equal(code, 0, 'exit 0 after SIGTERM');
    t.match(stderr, /reconnected to Redis/, 'the reconnection is logged');
    const retries = stderr.split('\n').filter((line) => /lost the connection to Redis/.test(line)).length;
    // Two connections, each retried at growing intervals (up to 5 s): some twenty lines a minute each, not a flood.
    t.ok(retries >= 2 && retries <= 100, `one line per reconnection attempt (${retries} in ${OUTAGE_MS / 1000} s)`);
    const stats = readStats(join(dir, 'stats.json'));
    t.same([...all()].sort(), Array.from({ length: 2 * N }, (_, i) => `m-${i}`).sort(), 'every entry handled');
    t.equal(stats.acked, 2 * N, 'acked counts each entry XACK took out of the PEL, once');
    t.equal(
      stats.received,
      stats.acked + stats.nacked + stats.deadLettered + stats.requeuedByBroker + stats.unsettled,
      'the figures add up',
    );
    t.equal(await pending(redis, 's'), 0, 'nothing left pending');
  },
);

t.test(
  'SIGTERM while Redis is down ends within the drain timeout, counts no unconfirmed ack, and writes the stats file',
  needRedisServer(),
  async (t) => {
    const server = await ownRedisServer(t);
    const dir = workDir(t);
    const record = join(dir, 'record');
    const redis = await client(t, server.url);
    await add(redis, 's', 0, 40);
    // Entries take a second each: some are in flight when Redis dies, and their acks can no longer be confirmed.
    const run = startCli(runArgs(server.url, dir, ['--drain-timeout', '2000', '--max-in-flight', '10']), {
      env: { RECORD_FILE: record, HANDLE_MS: '1000' },
    });
    t.teardown(() => run.child.kill('SIGKILL'));
    await until(
      async () => (await pending(redis, 's').catch(() => 0)) > 0 && recorded(record).length >= 10,
      'entries in flight',
      60000,
    );
    await server.kill();
    await waitForOutput(run, /lost the connection to Redis/);
    const termAt = Date.now();
    run.child.kill('SIGTERM');
    const { code, stderr } = await run.done;
    const took = Date.now() - termAt;
    t.ok(took < 15000, `ended ${took} ms after SIGTERM (drain timeout 2000 ms)`);
    t.not(code, null, `exited (code ${code})`);
    t.match(stderr, /cannot be reached while stopping/, 'says why acks are given up on');
    t.ok(existsSync(join(dir, 'stats.json')), 'the stats file is written');
    const stats = readStats(join(dir, 'stats.json'));
    t.equal(
      stats.received,
      stats.acked + stats.nacked + stats.deadLettered + stats.requeuedByBroker + stats.unsettled,
      'the figures add up',
    );
    t.ok(
      stats.received > stats.acked,
      `entries in flight at the kill are not counted acked (${JSON.stringify(stats)})`,
    );
    // What Redis took out of the PEL before the kill, read back from its append-only file after a restart.
    await server.start();
    await redis.ready();
    const left = await pending(redis, 's');
    const acked = (await entriesRead(redis, 's')) - left;
    t.ok(stats.acked <= acked, `acked (${stats.acked}) counts no more than Redis took out of the PEL (${acked})`);
    t.ok(left > 0, `entries whose acks were not confirmed stay pending (${left})`);
  },
);
