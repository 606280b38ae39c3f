import t from 'tap';
import { pathToFileURL } from 'node:url';
import { JsonMessage, MemoryDlq, Processor } from 'missive-node';
import { startPipeline } from '../dist/streams/pipeline.js';
import { ArrayAdapter } from './helpers/array-adapter.js';
import { FileAdapter } from '../dist/adapters/file.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { fixture } from './helpers/cli.js';

const bodies = [
  ...Array.from({ length: 300 }, (_, n) => JSON.stringify({ type: 'ok', n })),
  JSON.stringify({ type: 'boom' }),
  JSON.stringify({ type: 'flaky' }),
  JSON.stringify({ type: 'kill' }),
  JSON.stringify({ type: 'spin' }),
  JSON.stringify({ type: 'twice' }),
  JSON.stringify({ type: 'nobody' }),
  JSON.stringify({ type: 'matcher-throws' }),
  '{not json',
  ...Array.from({ length: 300 }, (_, n) => JSON.stringify({ type: 'ok', n: 300 + n })),
];

/** Runs the mixed input through two worker threads with the matchers where `where` says. */
async function run(where, extra = []) {
  const moduleUrl = `${pathToFileURL(fixture('routing-processor.js')).href}?where=${where}`;
  const { default: processor } = await import(moduleUrl);
  const adapter = new ArrayAdapter([...bodies, ...extra], { chunk: 97 });
  const dlq = new MemoryDlq();
  const pipeline = await startPipeline({ adapter, processor, dlq, moduleUrl, threads: 2, batchSize: 64, lingerMs: 1 });
  const stats = await pipeline.done;
  const letters = await dlq.list({ limit: 1000 });
  const byType = {};
  for (const letter of letters) {
    let type;
    try {
      type = JSON.parse(letter.body.toString()).type;
    } catch {
      type = 'malformed';
    }
    byType[type] = { reason: letter.reason, handler: letter.handler, error: letter.error ?? '' };
  }
  return { processor, stats, adapter, byType };
}

t.test('matchers in the workers: every message ends as it does with matchers in the main thread', async (t) => {
  const main = await run('main');
  // A matcher that ends its thread can only be tried where the thread is a worker.
  const workers = await run('workers', [JSON.stringify({ type: 'matcher-kills' })]);
  t.equal(main.processor.matchInWorkers, false);
  t.equal(workers.processor.matchInWorkers, true);
  for (const result of [main, workers]) {
    const sent = result === main ? bodies.length : bodies.length + 1;
    t.equal(result.stats.received, sent);
    t.equal(result.stats.acked + result.stats.deadLettered, sent, 'every message acked or dead-lettered');
    t.equal(result.stats.retries, 1, 'the flaky handler was tried again');
    t.equal(result.stats.unsettled, 0);
  }
  const shape = (byType) =>
    Object.fromEntries(Object.entries(byType).map(([type, l]) => [type, [l.reason, l.handler]]));
  const { 'matcher-kills': killed, ...comparable } = shape(workers.byType);
  t.same(comparable, shape(main.byType), 'same dead letters, reasons and handlers');
  t.same(killed, ['worker exited', null], 'a matcher that ends its worker: only that message, no handler named');
  t.same(comparable, {
    boom: ['handler failed', 'boom'],
    kill: ['worker exited', 'killer'],
    spin: ['timeout after 200 ms', 'spin'],
    twice: ['multiple matching handlers', null],
    nobody: ['no matching handler', null],
    'matcher-throws': ['matcher failed', null],
    malformed: ['decode failed', null],
  });
  t.equal(workers.stats.acked, 601, '600 ok messages and the flaky one, after its retry');
  t.match(main.byType['matcher-throws'].error, /matcher ran in thread 0\b/, 'main thread: threadId 0');
  t.match(workers.byType['matcher-throws'].error, /matcher ran in thread [1-9]/, 'workers: a worker thread');
});

t.test('without worker threads the option changes nothing: the calling thread matches', async (t) => {
  const processor = new Processor(JsonMessage, { matchInWorkers: true });
  const seen = [];
  processor.handleFor(
    (m) => m.getJson().ok === true,
    (m) => seen.push(m.getJson().n),
  );
  const dlq = new MemoryDlq();
  const adapter = new ArrayAdapter([JSON.stringify({ ok: true, n: 1 }), JSON.stringify({ ok: false })]);
  const stats = await (await startPipeline({ adapter, processor, dlq, threads: 0 })).done;
  t.same(seen, [1]);
  t.equal(stats.deadLettered, 1);
  t.equal((await dlq.list())[0].reason, 'no matching handler');
});

t.test('matchers run in the workers unless the processor opts out', async (t) => {
  t.equal(new Processor(JsonMessage).matchInWorkers, true);
  t.equal(new Processor(JsonMessage, { matchInWorkers: false }).matchInWorkers, false);
});

t.test('matchInWorkers must be a boolean', async (t) => {
  t.throws(() => new Processor(JsonMessage, { matchInWorkers: 'yes' }), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  t.throws(() => new Processor(JsonMessage, { matchInWorkers: 'yes' }), /matchInWorkers.*true or false/);
});

t.test(
  'a processor that matches in the main thread has its file read in blocks no larger than the in-flight cap',
  async (t) => {
    // Such blocks are split into deliveries in the main thread, every one alive until admitted: uncut, a 4 MiB block
    // of short lines held 100,000 of them.
    const dir = t.testdir();
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, Array.from({ length: 5000 }, (_, n) => JSON.stringify({ type: 'ok', n })).join('\n'));
    class RecordingFileAdapter extends FileAdapter {
      opened;
      blockLines = [];
      async open(options) {
        this.opened = options;
        const readable = await super.open(options);
        readable.on('data', (chunk) => this.blockLines.push(chunk.lines));
        return readable;
      }
    }
    for (const where of ['main', 'workers']) {
      const moduleUrl = `${pathToFileURL(fixture('routing-processor.js')).href}?where=${where}`;
      const { default: processor } = await import(moduleUrl);
      const adapter = new RecordingFileAdapter([path]);
      const pipeline = await startPipeline({
        adapter,
        processor,
        dlq: new MemoryDlq(),
        moduleUrl,
        threads: 2,
        batchSize: 100,
      });
      const stats = await pipeline.done;
      t.equal(stats.acked, 5000, `${where}: every line handled`);
      t.equal(adapter.opened.parallelism, 2, `${where}: the adapter knows two threads run its blocks`);
      if (where === 'main') {
        t.equal(adapter.opened.maxBlockLines, 400, 'matched here: blocks are cut to the cap, 2 x batch size x threads');
        t.ok(Math.max(...adapter.blockLines) <= 400, `no block over 400 lines (${Math.max(...adapter.blockLines)})`);
      } else {
        t.equal(adapter.opened.maxBlockLines, undefined, 'matched in the workers: blocks are cut by bytes only');
        t.ok(Math.max(...adapter.blockLines) > 400, 'and hold more lines than the cap');
      }
    }
  },
);
