// A handler that blocks its worker thread past its timeout costs one dead letter, its own, however many async
// messages were awaiting beside it on that thread: through the real CLI, real worker threads and a real DuckDB file.
// "block" blocks before its handler's first await, "block-later" after it, where no mark says whose code runs.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL, needRedis } from './helpers/brokers.js';
import { sleep } from './helpers/http-clients.js';
import { fixture, readDeadLetters, readStats, startCli } from './helpers/cli.js';

/** Far beyond what a run takes on a loaded machine (seconds); before the fix the larger runs never settled. */
const LIMIT_MS = 150_000;

/** How often each body ran, from the fixture's record of runs. */
function runsOf(path) {
  const counts = new Map();
  for (const body of readFileSync(path, 'utf8').split('\n').filter(Boolean))
    counts.set(body, (counts.get(body) ?? 0) + 1);
  return counts;
}

async function blockingRun(t, { lines, blocker, at, threads }) {
  const dir = t.testdir();
  const input = join(dir, 'in.txt');
  const runs = join(dir, 'runs.txt');
  const stats = join(dir, 'stats.json');
  const dlq = join(dir, 'dead.duckdb');
  const bodies = Array.from({ length: lines }, (_, i) => (i + 1 === at ? blocker : `ok-${i + 1}`));
  writeFileSync(input, `${bodies.join('\n')}\n`);
  writeFileSync(runs, '');
  const started = startCli(
    [
      'run',
      fixture('blocking-processor.js'),
      '--input',
      input,
      '--timeout',
      '1000',
      '--threads',
      String(threads),
      '--dlq',
      dlq,
      '--stats-file',
      stats,
    ],
    { env: { MISSIVE_TEST_RUNS: runs } },
  );
  const limit = setTimeout(() => started.child.kill('SIGKILL'), LIMIT_MS);
  const result = await started.done;
  clearTimeout(limit);
  t.equal(result.signal, null, `the run settled within ${LIMIT_MS / 1000} s`);
  return { result, figures: readStats(stats), letters: await readDeadLetters(dlq), runs: runsOf(runs), bodies };
}

function checkOneLetter(
  t,
  { result, figures, letters, runs, bodies },
  { blocker, at, reason = 'timeout after 1000 ms', error = /blocked its thread/ },
) {
  t.equal(result.code, 0, 'the run ends normally', { stderr: result.stderr.slice(-3000) });
  t.same(
    [figures.received, figures.acked, figures.deadLettered, figures.unsettled],
    [bodies.length, bodies.length - 1, 1, 0],
    'every good message acked, one dead letter',
  );
  t.equal(letters.length, 1, 'exactly one letter');
  t.equal(letters[0]?.body.toString(), blocker, 'the blocking message is the letter');
  if (at !== undefined) t.ok(letters[0]?.id.endsWith(`:${at}`), `with its id (${letters[0]?.id})`);
  t.equal(letters[0]?.reason, reason);
  t.match(letters[0]?.error, error);
  const overRun = bodies.filter((body) => body !== blocker && !((runs.get(body) ?? 0) >= 1 && runs.get(body) <= 2));
  t.same(overRun, [], 'each good message ran once or twice');
}

for (const threads of [1, 2]) {
  for (const blocker of ['block', 'block-later']) {
    t.test(`--threads ${threads}: "${blocker}" among 19 async messages is the only letter`, async (t) => {
      const run = await blockingRun(t, { lines: 20, blocker, at: 10, threads });
      checkOneLetter(t, run, { blocker, at: 10 });
    });
  }
}

t.test(
  '--threads 1: a handler that ends its worker after its await among 19 awaiting is the only letter',
  async (t) => {
    const run = await blockingRun(t, { lines: 20, blocker: 'exit-later', at: 10, threads: 1 });
    checkOneLetter(t, run, { blocker: 'exit-later', at: 10, reason: 'worker exited', error: /exited with code: 3/ });
  },
);

t.test(
  '1,001 lines, --threads 1: a handler blocking after its await among a thousand awaiting settles with one letter',
  async (t) => {
    const run = await blockingRun(t, { lines: 1001, blocker: 'block-later', at: 500, threads: 1 });
    checkOneLetter(t, run, { blocker: 'block-later', at: 500 });
  },
);

t.test('1,001 lines, --threads 2: a handler blocking before its await settles with one letter', async (t) => {
  const run = await blockingRun(t, { lines: 1001, blocker: 'block', at: 500, threads: 2 });
  checkOneLetter(t, run, { blocker: 'block', at: 500 });
});

// The rule lives in the worker pool, so a broker's batches get it too: the issue saw 23,202 handler runs in 40 s and
// 1,000 entries left pending on Redis Streams.
for (const blocker of ['block', 'block-later']) {
  t.test(
    `Redis Streams, --threads 1: "${blocker}" among 19 async messages is the only letter, all acked`,
    await needRedis(),
    async (t) => {
      const dir = t.testdir();
      const runs = join(dir, 'runs.txt');
      const stats = join(dir, 'stats.json');
      const dlq = join(dir, 'dead.duckdb');
      writeFileSync(runs, '');
      const redis = new Redis(REDIS_URL);
      const stream = `timeout-blame-${randomUUID()}`;
      t.teardown(async () => {
        await redis.del(stream);
        redis.disconnect();
      });
      const bodies = Array.from({ length: 20 }, (_, i) => (i === 9 ? blocker : `ok-${i + 1}`));
      for (const body of bodies) await redis.xadd(stream, '*', 'body', body);
      const started = startCli(
        [
          'run',
          fixture('blocking-processor.js'),
          '--adapter',
          'redis-streams',
          '--redis-url',
          REDIS_URL,
          '--stream',
          stream,
          '--group',
          'g',
          '--claim-idle',
          '600000',
          '--block',
          '200',
          '--timeout',
          '1000',
          '--threads',
          '1',
          '--dlq',
          dlq,
          '--stats-file',
          stats,
        ],
        { env: { MISSIVE_TEST_RUNS: runs } },
      );
      t.teardown(() => started.child.kill('SIGKILL'));
      // Settled: every entry delivered and none pending (the letter's entry is acked once the letter is stored).
      const settled = async () => {
        const groups = await redis.xinfo('GROUPS', stream).catch(() => []);
        const info = groups
          .map((g) => Object.fromEntries(g.flatMap((v, i) => (i % 2 ? [] : [[String(v), g[i + 1]]]))))
          .find((g) => g.name === 'g');
        return (
          info !== undefined &&
          Number(info.pending) === 0 &&
          Number(info.lag) === 0 &&
          Number(info['entries-read']) === 20
        );
      };
      for (const deadline = Date.now() + LIMIT_MS; !(await settled()); await sleep(100)) {
        if (Date.now() > deadline) {
          t.fail(`not settled in ${LIMIT_MS / 1000} s`, { runs: readFileSync(runs, 'utf8').split('\n').length - 1 });
          return;
        }
      }
      started.child.kill('SIGTERM');
      const result = await started.done;
      checkOneLetter(
        t,
        { result, figures: readStats(stats), letters: await readDeadLetters(dlq), runs: runsOf(runs), bodies },
        { blocker },
      );
    },
  );
}
