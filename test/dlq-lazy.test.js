import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryDlq, Processor } from 'missive-node';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { LazyDlq } from '../dist/dlq/lazy.js';
import { startPipeline } from '../dist/streams/pipeline.js';
import { ArrayAdapter } from './helpers/array-adapter.js';
import { fixture, readDeadLetters, readStats, runCli, startCli } from './helpers/cli.js';

t.test('the store opens at the first dead letter, not before, and once', async (t) => {
  let opens = 0;
  const inner = new MemoryDlq();
  const dlq = new LazyDlq(async () => {
    opens++;
    return inner;
  }, false);
  await dlq.put([]);
  t.equal(opens, 0, 'nothing to store: not opened');
  t.equal(dlq.opened, false);
  await Promise.all([
    dlq.put([{ id: 'a', body: Buffer.from('x'), reason: 'no matching handler' }]),
    dlq.put([{ id: 'b', body: Buffer.from('y'), reason: 'no matching handler' }]),
  ]);
  t.equal(opens, 1, 'two puts at once share one open');
  t.equal(await dlq.count(), 2);
  t.same(
    (await dlq.list()).map((l) => l.id),
    ['a', 'b'],
  );
  const seen = [];
  for await (const letter of dlq) seen.push(letter.id);
  t.same(seen, ['a', 'b']);
  await dlq.close();
});

t.test('closing a store never opened does not open it', async (t) => {
  let opens = 0;
  const dlq = new LazyDlq(async () => {
    opens++;
    return new MemoryDlq();
  }, false);
  await dlq.close();
  t.equal(opens, 0);
});

t.test('a store that fails to open mid-run fails the run, and its messages are not acked', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    (m) => m.rawData.toString() === 'ok',
    () => {},
  );
  const dlq = new LazyDlq(async () => {
    throw new Error('disk gone');
  }, true);
  const adapter = new ArrayAdapter(['ok', 'ok', 'unroutable', 'ok']);
  const pipeline = await startPipeline({ adapter, processor, dlq, threads: 0 });
  await t.rejects(pipeline.done, /disk gone/);
  t.same(adapter.deadLettered, [], 'the unroutable message was not acked as dead-lettered');
  t.notOk(adapter.acked.includes('m2'));
  await dlq.close();
});

t.test('missive run takes its DuckDB file at start, creating it even when no message fails', async (t) => {
  const dir = t.testdir({
    'good.jsonl': '{"type":"ok"}\n{"type":"ok"}\n',
    'bad.jsonl': '{"type":"ok"}\n{"type":"nobody"}\n',
  });
  const clean = join(dir, 'clean.duckdb');
  const result = await runCli([
    'run',
    fixture('mixed-processor.js'),
    '--input',
    join(dir, 'good.jsonl'),
    '--dlq',
    clean,
    '--threads',
    '1',
    '--stats-file',
    join(dir, 's1.json'),
  ]);
  t.equal(result.code, 0, result.stderr);
  t.equal(readStats(join(dir, 's1.json')).acked, 2);
  t.ok(existsSync(clean), 'created at start');
  t.same(await readDeadLetters(clean), [], 'an empty store, ready for the next run');
  const used = join(dir, 'used.duckdb');
  const second = await runCli([
    'run',
    fixture('mixed-processor.js'),
    '--input',
    join(dir, 'bad.jsonl'),
    '--dlq',
    used,
    '--threads',
    '1',
  ]);
  t.equal(second.code, 0, second.stderr);
  const letters = await readDeadLetters(used);
  t.same(
    letters.map((l) => l.reason),
    ['no matching handler'],
  );
});

t.test(
  'missive run refuses a --dlq that is not a DuckDB file, before reading input, and leaves it alone',
  async (t) => {
    const dir = t.testdir({ 'notes.duckdb': 'my notes\n', 'empty.duckdb': '' });
    const cases = [
      ['notes.duckdb', 'my notes\n', /notes\.duckdb: it is not a DuckDB database; choose another path/],
      ['empty.duckdb', '', /empty\.duckdb: it is empty, not a DuckDB database; choose another path/],
    ];
    for (const [name, content, message] of cases) {
      const path = join(dir, name);
      const result = await startCli(['run', fixture('mixed-processor.js'), '--dlq', path], {
        keepStdinOpen: true,
        input: '{"type":"ok"}\n',
      }).done;
      t.equal(result.code, 2, `${name}: exit 2`);
      t.match(result.stderr, message);
      t.equal(readFileSync(path, 'utf8'), content, `${name} left alone`);
    }
  },
);

t.test(
  'missive run refuses a --dlq another process holds, before reading input',
  { skip: process.platform !== 'linux' && 'the early check reads /proc/locks (Linux)' },
  async (t) => {
    const path = join(t.testdir(), 'held.duckdb');
    // A second process holds the store open until its stdin closes.
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
    const { DuckDbDlq } = await import(${JSON.stringify(new URL('../dist/dlq/duckdb.js', import.meta.url).href)});
    const dlq = await DuckDbDlq.open(${JSON.stringify(path)});
    console.log('open');
    process.stdin.resume();
    process.stdin.on('end', async () => { await dlq.close(); });
  `,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    const result = await startCli(['run', fixture('mixed-processor.js'), '--dlq', path], {
      keepStdinOpen: true,
      input: '{"type":"ok"}\n',
    }).done;
    holder.stdin.end();
    await new Promise((resolve) => holder.once('exit', resolve));
    t.equal(result.code, 2);
    t.match(result.stderr, new RegExp(`held\\.duckdb is in use by a running processor \\(process ${holder.pid}:`));
    // Free again: the store opens here.
    const dlq = await DuckDbDlq.open(path);
    await dlq.close();
  },
);
