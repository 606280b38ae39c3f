import t from 'tap';
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
  processor.handleFor((m) => m.rawData.toString() === 'ok', () => {});
  processor.handleFor((m) => m.rawData.toString() === 'hang', () => new Promise(() => {}));
  return processor;
}

t.test('the drain timeout ends a run whose handler never returns', async (t) => {
  const adapter = new ArrayAdapter(['ok', 'hang', 'ok'], { chunk: 1 });
  const pipeline = await startPipeline({ adapter, processor: hangingProcessor(), dlq: new MemoryDlq(), threads: 0, batchSize: 1, drainTimeoutMs: 200 });
  setTimeout(() => pipeline.stop(), 50);
  const ended = await Promise.race([pipeline.done, new Promise((resolve) => setTimeout(() => resolve('still running'), 5000))]);
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
  const pipeline = await startPipeline({ adapter, processor: hangingProcessor(), dlq, threads: 0, drainTimeoutMs: 100 });
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
    ['run', fixture('slow-processor.js'), '--threads', '1', '--drain-timeout', '500', '--dlq', join(dir, 'd.duckdb'), '--stats-file', statsPath],
    { input: 'a\nb\nc\n', keepStdinOpen: true, env: { SLOW_MS: '600000' } },
  );
  await waitForOutput(run, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const signalled = Date.now();
  run.child.kill('SIGTERM');
  const result = await run.done;
  t.equal(result.code, 0, 'exits by itself, not on a second signal', { stderr: result.stderr.slice(-2000) });
  t.ok(Date.now() - signalled < 10_000, `within seconds of the signal (${Date.now() - signalled} ms)`);
  t.match(result.stderr, /drain timeout: giving up on 3 in-flight messages/);
  const stats = readStats(statsPath);
  t.equal(stats.received, 3);
  t.equal(stats.unsettled, 3);
});
