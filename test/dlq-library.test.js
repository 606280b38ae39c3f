// missive-node/dlq as a program uses it: open a real DuckDB store, replay its letters through a processor (real
// worker threads), purge what is left.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbDlq, MemoryDlq, purgeDeadLetters, replayDeadLetters } from 'missive-node/dlq';
import { JsonMessage, Processor } from 'missive-node';
import processor from './fixtures/embedded-processor.js';

const MODULE = new URL('./fixtures/embedded-processor.js', import.meta.url);
const letter = (n, kind) => ({
  id: `in:${n}`,
  body: Buffer.from(JSON.stringify({ kind, n })),
  reason: 'handler failed',
  source: 'test',
});

t.test('replayDeadLetters: handled letters leave, failing ones stay with one more attempt', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const store = await DuckDbDlq.open(path);
  await store.put([letter(1, 'ok'), letter(2, 'bad'), letter(3, 'ok')]);
  const running = await replayDeadLetters(store, processor, { module: MODULE, threads: 1 });
  const stats = await running.done;
  t.same([stats.received, stats.acked, stats.deadLettered], [3, 2, 1]);
  const left = await store.list();
  t.same(
    left.map((l) => [l.id, l.attempts]),
    [['in:2', 2]],
    'the one that failed again, attempts 2',
  );
  t.equal(await purgeDeadLetters(store, { reason: 'handler failed' }), 1);
  t.equal(await store.count(), 0);
  await store.close();
});

t.test('purgeDeadLetters deletes what the filter selects, across pages', async (t) => {
  const store = new MemoryDlq();
  await store.put(
    Array.from({ length: 2500 }, (_, n) => ({ ...letter(n, 'x'), reason: n % 2 ? 'nacked' : 'decode failed' })),
  );
  t.equal(await purgeDeadLetters(store, { reason: 'nacked' }), 1250);
  t.equal(await store.count(), 1250);
  t.equal(await store.count({ reason: 'nacked' }), 0);
  // A JsonMessage processor in this thread: replay without workers.
  const p = new Processor(JsonMessage);
  p.handleFor(
    () => true,
    () => {},
  );
  const stats = await (await replayDeadLetters(store, p, { threads: 0 })).done;
  t.equal(stats.acked, 1250);
  t.equal(await store.count(), 0);
});

t.test('new DuckDbDlq(path) opens the file at first use, await DuckDbDlq.open(path) at once', async (t) => {
  const dir = t.testdir();
  const lazy = new DuckDbDlq(join(dir, 'lazy.duckdb'));
  t.notOk(existsSync(join(dir, 'lazy.duckdb')), 'nothing on disk before it is used');
  await lazy.put([letter(1, 'x')]);
  t.equal(await lazy.count(), 1);
  await lazy.close();
  await t.rejects(lazy.count(), /is closed/, 'closed means closed');
  const eager = await DuckDbDlq.open(join(dir, 'lazy.duckdb'));
  t.equal((await eager.list())[0].id, 'in:1', 'the letter was committed to the file');
  await eager.close();
  await t.rejects(DuckDbDlq.open(join(dir, 'missing-dir', 'x.duckdb')), /does not exist/, 'open fails at once');
  const never = new DuckDbDlq(join(dir, 'never.duckdb'));
  await never.close();
  t.notOk(existsSync(join(dir, 'never.duckdb')), 'a store never used leaves no file');
});
