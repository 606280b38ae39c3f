// What the Redis adapters hold, through the CLI: Redis Streams reads bounded by the bytes of entries in flight,
// not only by their number; Redis Pub/Sub's dropped messages (buffer full, held at stop) in the summary and
// --stats-file, so that every message published is accounted for.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL, needRedis } from '../helpers/brokers.js';
import { fixture, readStats, startCli, waitForOutput } from '../helpers/cli.js';
import { sleep } from '../helpers/http-clients.js';
import { until } from '../helpers/until.js';

const opts = await needRedis();
const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

function setup(t) {
  const dir = mkdtempSync(join(tmpdir(), 'missive-redis-limits-'));
  const redis = new Redis(REDIS_URL);
  const key = `missive-test:limits:${randomUUID()}`;
  t.teardown(async () => {
    await redis.del(key);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, redis, key, arrived: join(dir, 'arrived'), gate: join(dir, 'gate'), stats: join(dir, 'stats.json') };
}

t.test('Redis Streams: entries of 2 MB under a 4 MB cap are read two at a time, not all at once', opts, async (t) => {
  const s = setup(t);
  const MB = 1024 * 1024;
  const N = 10;
  for (let i = 0; i < N; i++) await s.redis.xadd(s.key, '*', 'body', `e-${i}:`.padEnd(2 * MB, 'x'));
  const run = startCli(
    [
      'run',
      fixture('http-gate-processor.js'),
      '--adapter',
      'redis-streams',
      '--redis-url',
      REDIS_URL,
      '--stream',
      s.key,
      '--group',
      'g',
      '--threads',
      '1',
      '--max-message-bytes',
      String(4 * MB),
      '--max-bytes-in-flight',
      String(4 * MB),
      '--dlq',
      join(s.dir, 'dlq.duckdb'),
      '--stats-file',
      s.stats,
    ],
    { env: { ARRIVED_FILE: s.arrived, GATE_FILE: s.gate } },
  );
  t.teardown(() => run.child.kill('SIGKILL'));
  const pending = async () => Number((await s.redis.xpending(s.key, 'g'))[0]);
  // The handler holds the first entry: whatever is pending now was read while nothing could settle.
  await until(() => lines(s.arrived).length >= 1, 'the first entry in its handler', 60000);
  let most = await pending();
  for (let i = 0; i < 5; i++) {
    await sleep(100);
    most = Math.max(most, await pending());
  }
  t.ok(most >= 1 && most <= 3, `at most 3 of ${N} entries of 2 MB read with 4 MB in flight (${most})`);
  writeFileSync(s.gate, '');
  await until(
    async () => lines(s.arrived).length >= N && (await pending()) === 0,
    'every entry handled and acked',
    60000,
  );
  run.child.kill('SIGTERM');
  const { code } = await run.done;
  t.equal(code, 0);
  t.equal(readStats(s.stats).acked, N, 'every entry handled once');
});

t.test(
  'Redis Pub/Sub: messages dropped while the buffer is full or held at stop are in the summary and stats',
  opts,
  async (t) => {
    const s = setup(t);
    const channel = s.key;
    const run = startCli(
      [
        'run',
        fixture('http-gate-processor.js'),
        '--adapter',
        'redis-pubsub',
        '--redis-url',
        REDIS_URL,
        '--channel',
        channel,
        '--max-buffered',
        '5',
        '--max-in-flight',
        '2',
        '--threads',
        '1',
        '--drain-timeout',
        '5000',
        '--dlq',
        join(s.dir, 'dlq.duckdb'),
        '--stats-file',
        s.stats,
      ],
      { env: { ARRIVED_FILE: s.arrived, GATE_FILE: s.gate } },
    );
    t.teardown(() => run.child.kill('SIGKILL'));
    await until(async () => Number((await s.redis.pubsub('NUMSUB', channel))[1]) === 1, 'the run to subscribe', 60000);
    const N = 50;
    await s.redis.publish(channel, 'p-0');
    await until(() => lines(s.arrived).length === 1, 'the first message in its handler', 60000);
    for (let i = 1; i < N; i++) await s.redis.publish(channel, `p-${i}`);
    await waitForOutput(run, /buffer full \(5 messages\)/);
    run.child.kill('SIGTERM');
    await waitForOutput(run, /stopping/);
    writeFileSync(s.gate, '');
    const { stderr } = await run.done;
    const stats = readStats(s.stats);
    t.ok(
      stats.droppedByReason['buffer full'] > 0,
      `dropped because the buffer was full: ${stats.droppedByReason['buffer full']}`,
    );
    t.ok(
      stats.droppedByReason['held at stop'] > 0,
      `dropped because they were held at stop: ${stats.droppedByReason['held at stop']}`,
    );
    t.equal(stats.dropped, stats.droppedByReason['buffer full'] + stats.droppedByReason['held at stop']);
    t.equal(
      stats.received + stats.dropped,
      N,
      `every message published is received or dropped (${JSON.stringify(stats)})`,
    );
    t.equal(stats.received, stats.acked + stats.unsettled, 'those received are handled, or counted unsettled');
    t.match(stderr, new RegExp(`· ${stats.dropped} dropped \\(`), 'the summary line says how many were dropped');
  },
);
