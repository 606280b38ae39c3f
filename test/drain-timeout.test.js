import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryDlq, Processor } from 'missive-node';
import { startPipeline } from '../dist/streams/pipeline.js';
import { ArrayAdapter } from './helpers/array-adapter.js';
import { fixture, readStats, startCli, waitForOutput } from './helpers/cli.js';

/** A store whose writes take `delayMs` to commit. */
class SlowDlq extends MemoryDlq {
  constructor(delayMs) {
    super();
    this.delayMs = delayMs;
  }

  async put(letters) {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.put(letters);
  }
}

function hangingProcessor() {
  const processor = new Processor();
  processor.handleFor(
    (m) => m.rawData.toString() === 'ok',
    () => {},
  );
  processor.handleFor(
    (m) => m.rawData.toString() === 'hang',
    () => new Promise(() => {}),
  );
  return processor;
}

t.test('the drain timeout ends a run whose handler never returns', async (t) => {
  const adapter = new ArrayAdapter(['ok', 'hang', 'ok'], { chunk: 1 });
  const pipeline = await startPipeline({
    adapter,
    processor: hangingProcessor(),
    dlq: new MemoryDlq(),
    threads: 0,
    batchSize: 1,
    drainTimeoutMs: 200,
  });
  setTimeout(() => pipeline.stop(), 50);
  const ended = await Promise.race([
    pipeline.done,
    new Promise((resolve) => setTimeout(() => resolve('still running'), 5000)),
  ]);
  t.not(ended, 'still running', 'done resolved after the drain timeout');
  t.equal(ended.received, 3);
  t.equal(ended.acked, 2);
  t.equal(ended.unsettled, 1, 'the hanging message is reported as unsettled');
  t.equal(pipeline.stats.inFlight, 0);
  t.equal(pipeline.kill(), 1, 'a second signal after the give-up still reports the unsettled message');
});

t.test('a dead letter committed after the run gave up counts as dead-lettered, not unsettled', async (t) => {
  // "nobody" has no route: its write takes 400 ms, so it is still under way when the 100 ms drain timeout fires.
  const adapter = new ArrayAdapter(['hang', 'nobody'], { chunk: 2 });
  const dlq = new SlowDlq(400);
  const pipeline = await startPipeline({
    adapter,
    processor: hangingProcessor(),
    dlq,
    threads: 0,
    drainTimeoutMs: 100,
  });
  setTimeout(() => pipeline.stop(), 20);
  const stats = await pipeline.done;
  t.equal(stats.deadLettered, 1);
  t.equal(await dlq.count(), 1, 'the letter was stored');
  t.equal(stats.unsettled, 1, 'only the hanging message is unsettled');
  t.equal(stats.acked + stats.deadLettered + stats.nacked + stats.unsettled, stats.received, 'the figures add up');
  t.equal(pipeline.stats.inFlight, 0, 'never below zero');
});

t.test('missive run: SIGTERM with a handler that never returns exits once the drain timeout passes', async (t) => {
  const dir = t.testdir();
  const statsPath = join(dir, 'stats.json');
  const run = startCli(
    [
      'run',
      fixture('slow-processor.js'),
      '--threads',
      '1',
      '--drain-timeout',
      '500',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
    ],
    { input: 'a\nb\nc\n', keepStdinOpen: true, env: { SLOW_MS: '600000' } },
  );
  await waitForOutput(run, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const signalled = Date.now();
  run.child.kill('SIGTERM');
  const result = await run.done;
  t.equal(result.code, 3, 'exits by itself with the status for lines read and not settled', {
    stderr: result.stderr.slice(-2000),
  });
  t.ok(Date.now() - signalled < 10_000, `within seconds of the signal (${Date.now() - signalled} ms)`);
  t.match(result.stderr, /drain timeout: giving up on 3 in-flight messages/);
  const stats = readStats(statsPath);
  t.equal(stats.received, 3);
  t.equal(stats.unsettled, 3);
  t.same(
    stats.unsettledIds.map((id) => id.slice(id.indexOf(':') + 1)),
    ['1', '2', '3'],
    'their ids, so the lines can be found',
  );
  t.match(result.stderr, /3 messages were read and not settled; stdin cannot deliver them again/);
});

t.test(
  'missive run --threads 0: after a drain timeout afterProcessing still runs, and the status says what was left',
  async (t) => {
    const dir = t.testdir();
    const statsPath = join(dir, 'stats.json');
    const after = join(dir, 'after.txt');
    const input = join(dir, 'in.txt');
    writeFileSync(input, 'a\nb\n');
    const run = startCli(
      [
        'run',
        fixture('slow-hooked-processor.js'),
        '--threads',
        '0',
        '--input',
        input,
        '--drain-timeout',
        '300',
        '--dlq',
        join(dir, 'd.duckdb'),
        '--stats-file',
        statsPath,
      ],
      { env: { SLOW_MS: '600000', AFTER_FILE: after } },
    );
    await waitForOutput(run, /"msg":"running"/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    run.child.kill('SIGTERM');
    const result = await run.done;
    t.equal(result.code, 3, result.stderr.slice(-2000));
    t.equal(readFileSync(after, 'utf8'), 'after 0\n', 'afterProcessing ran in the main thread');
    const stats = readStats(statsPath);
    t.equal(stats.unsettledIds.length, 2);
    t.ok(
      stats.unsettledIds.every((id) => /:(1|2)$/.test(id)),
      'the ids of both lines',
    );
  },
);

t.test('missive run: a second SIGINT within moments is the same request; a later one exits at once', async (t) => {
  const dir = t.testdir();
  // Handlers of 150 ms: a drain takes a while, long enough to tell a drain from an exit.
  const twice = startCli(
    [
      'run',
      fixture('slow-processor.js'),
      '--threads',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      join(dir, 's1.json'),
    ],
    {
      input: 'a\nb\n',
      keepStdinOpen: true,
      env: { SLOW_MS: '150' },
    },
  );
  await waitForOutput(twice, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  twice.child.kill('SIGINT');
  await new Promise((resolve) => setTimeout(resolve, 20));
  twice.child.kill('SIGINT');
  const drained = await twice.done;
  t.equal(drained.code, 0, 'two signals 20 ms apart: one clean drain', { stderr: drained.stderr.slice(-2000) });
  const s1 = readStats(join(dir, 's1.json'));
  t.same([s1.received, s1.acked, s1.unsettled], [2, 2, 0]);

  const later = startCli(['run', fixture('slow-processor.js'), '--threads', '0', '--dlq', join(dir, 'd2.duckdb')], {
    input: 'a\n',
    keepStdinOpen: true,
    env: { SLOW_MS: '600000' },
  });
  await waitForOutput(later, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  later.child.kill('SIGINT');
  await new Promise((resolve) => setTimeout(resolve, 600));
  later.child.kill('SIGINT');
  const killed = await later.done;
  t.equal(killed.code, 3, 'a second signal 600 ms later exits at once, with the unsettled status on stdin');
  t.match(killed.stderr, /exiting at once on a second SIGINT; 1 messages were not settled \(ids: \w+:1\)/);
});
