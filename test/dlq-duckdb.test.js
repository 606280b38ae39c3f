import t from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { MemoryDlq } from '../dist/dlq/memory.js';

const run = promisify(execFile);
const OPEN_FIXTURE = new URL('./fixtures/dlq-open.js', import.meta.url).pathname;
const at = (seconds) => new Date(Date.UTC(2024, 0, 1, 0, 0, seconds));
const letter = (id, fields = {}) => ({ id, body: Buffer.from(`body of ${id}`), reason: 'handler failed', ...fields });

/** Opens a store in a fresh directory; closed when the test ends. */
async function openStore(t, options) {
  const path = join(t.testdir(), 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path, options);
  t.teardown(() => dlq.close());
  return dlq;
}

/** Runs the fixture in another process; resolves with what it printed. */
async function openElsewhere(path, options = {}) {
  const { stdout } = await run(process.execPath, [OPEN_FIXTURE, path], options);
  return JSON.parse(stdout);
}

t.test('every field survives close and reopen', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const body = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0x7b]);
  const headers = { 'content-type': 'application/json', deliveryCount: 3, nested: { list: [1, 'two', null] } };
  const own = { name: 'orders', host: 'box-1', pid: 4242, version: '1.2.3' };
  const dlq = await DuckDbDlq.open(path, { fingerprint: { name: 'default', host: 'box-2', pid: 7 } });
  t.equal(dlq.path, path);
  await dlq.put([
    {
      id: 'full',
      body,
      reason: 'timeout after 500 ms',
      error: 'Error: slow\n    at handler (file:///p.js:1:1)',
      handler: 'charge',
      source: 'amqp:orders',
      headers,
      attempts: 4,
      failedAt: at(30),
      fingerprint: own,
    },
    { id: 'bare', body: Buffer.alloc(0), reason: 'nacked', failedAt: at(10) },
  ]);
  await dlq.close();

  const again = await DuckDbDlq.open(path);
  t.teardown(() => again.close());
  const full = await again.get('full');
  t.ok(Buffer.isBuffer(full.body), 'body is a Buffer');
  t.ok(full.body.equals(body), 'body bytes exact');
  t.strictSame(full.headers, headers, 'headers come back as a plain object');
  t.ok(full.firstFailedAt instanceof Date && full.lastFailedAt instanceof Date, 'dates are Dates');
  t.equal(full.firstFailedAt.toISOString(), at(30).toISOString());
  t.equal(full.lastFailedAt.toISOString(), at(30).toISOString());
  t.match(full, {
    id: 'full',
    reason: 'timeout after 500 ms',
    error: 'Error: slow\n    at handler (file:///p.js:1:1)',
    handler: 'charge',
    source: 'amqp:orders',
    attempts: 4,
  });
  t.strictSame(full.fingerprint, own, "the letter's own fingerprint wins");

  const bare = await again.get('bare');
  t.equal(bare.body.length, 0);
  t.strictSame(
    { error: bare.error, handler: bare.handler, source: bare.source, headers: bare.headers, attempts: bare.attempts },
    { error: null, handler: null, source: null, headers: null, attempts: 1 },
  );
  t.strictSame(bare.fingerprint, { name: 'default', host: 'box-2', pid: 7 }, "the store's fingerprint fills in");
  t.equal(await again.get('missing'), undefined);
});

t.test('putting a stored message again updates it: attempts, first failure kept, the rest replaced', async (t) => {
  const dlq = await openStore(t);
  await dlq.put([letter('a', { failedAt: at(1), reason: 'handler failed', error: 'first' })]);
  const second = { failedAt: at(5), reason: 'timeout after 5 ms', error: 'second' };
  await dlq.put([letter('a', second)]);
  let a = await dlq.get('a');
  t.equal(a.attempts, 2, 'stored + 1');
  t.equal(a.firstFailedAt.getTime(), at(1).getTime(), 'first failure kept');
  t.equal(a.lastFailedAt.getTime(), at(5).getTime());
  t.equal(a.reason, 'timeout after 5 ms');
  t.equal(a.error, 'second');

  await dlq.put([letter('a', { failedAt: at(9), attempts: 10 })]);
  a = await dlq.get('a');
  t.equal(a.attempts, 10, 'a larger count from the caller wins');
  t.equal(a.error, null, 'fields the new letter leaves out are cleared, as in MemoryDlq');
  t.equal(await dlq.count(), 1);
});

t.test('the same id twice in one batch counts as two puts', async (t) => {
  const dlq = await openStore(t);
  await dlq.put([
    letter('x', { failedAt: at(3), reason: 'one' }),
    letter('y', { failedAt: at(4) }),
    letter('x', { failedAt: at(6), reason: 'two' }),
    letter('x', { failedAt: at(8), reason: 'three', attempts: 2 }),
  ]);
  const x = await dlq.get('x');
  t.equal(x.attempts, 3, '1, then 2, then max(3, 2)');
  t.equal(x.reason, 'three');
  t.equal(x.firstFailedAt.getTime(), at(3).getTime());
  t.equal(x.lastFailedAt.getTime(), at(8).getTime());

  await dlq.put([letter('x', { failedAt: at(9) }), letter('x', { failedAt: at(10), attempts: 4 })]);
  t.equal((await dlq.get('x')).attempts, 5, 'over a stored letter too: max(3 + 1, 1), then max(4 + 1, 4)');
  t.equal(await dlq.count(), 2);
});

t.test('delete takes one key or many and returns how many existed', async (t) => {
  const dlq = await openStore(t);
  await dlq.put(['a', 'b', 'c', 'd'].map((id) => letter(id)));
  const key = async (id) => (await dlq.get(id)).key;
  const [a, b, c] = [await key('a'), await key('b'), await key('c')];
  t.equal(await dlq.delete('a'), 0, 'an id is not a key');
  t.equal(await dlq.delete(a), 1);
  t.equal(await dlq.delete(a), 0, 'already gone');
  t.equal(await dlq.delete([b, c, c, 'nope']), 2, 'duplicates and unknown keys are not counted');
  t.equal(await dlq.delete([]), 0);
  t.strictSame(
    (await dlq.list()).map((l) => l.id),
    ['d'],
  );
});

t.test('count and list filter by reason, reason prefix, handler and since; list pages', async (t) => {
  const dlq = await openStore(t);
  await dlq.put([
    letter('t1', { reason: 'timeout after 5 ms', handler: 'charge', failedAt: at(1) }),
    letter('t2', { reason: 'timeout after 50 ms', handler: 'ship', failedAt: at(2) }),
    letter('h1', { reason: 'handler failed', handler: 'charge', failedAt: at(3) }),
    letter('n1', { reason: 'no matching handler', failedAt: at(4) }),
    letter('p1', { reason: 'time%_ odd', failedAt: at(5) }),
  ]);
  t.equal(await dlq.count(), 5);
  t.equal(await dlq.count({ reason: 'handler failed' }), 1);
  t.equal(await dlq.count({ reason: 'timeout*' }), 2, 'prefix');
  t.equal(await dlq.count({ reason: 'time%*' }), 1, 'LIKE wildcards in a prefix are plain characters');
  t.equal(await dlq.count({ reason: 'timeout' }), 0, 'without * the match is exact');
  t.equal(await dlq.count({ handler: 'charge' }), 2);
  t.equal(await dlq.count({ since: at(3) }), 3, 'since is inclusive');
  t.equal(await dlq.count({ reason: 'timeout*', handler: 'charge' }), 1, 'filters combine');
  t.strictSame(
    (await dlq.list({ reason: 'timeout*' })).map((l) => l.id),
    ['t1', 't2'],
  );
  t.strictSame(
    (await dlq.list({ limit: 2 })).map((l) => l.id),
    ['t1', 't2'],
  );
  t.strictSame(
    (await dlq.list({ limit: 2, offset: 2 })).map((l) => l.id),
    ['h1', 'n1'],
  );
  t.strictSame(
    (await dlq.list({ offset: 4 })).map((l) => l.id),
    ['p1'],
  );
  t.strictSame(
    (await dlq.list({ since: at(4), handler: 'nobody' })).map((l) => l.id),
    [],
  );
  await t.rejects(dlq.list({ limit: -1 }), { code: 'MISSIVE_ERR_INVALID_OPTION' });
});

t.test('oldest is the earliest first failure, not the first inserted', async (t) => {
  const dlq = await openStore(t);
  t.equal(await dlq.oldest(), undefined, 'empty store');
  await dlq.put([letter('late', { failedAt: at(50) }), letter('middle', { failedAt: at(20) })]);
  await dlq.put([letter('early', { failedAt: at(5) })]);
  t.equal((await dlq.oldest()).id, 'early');
  await dlq.put([letter('early', { failedAt: at(90) })]);
  t.equal((await dlq.oldest()).id, 'early', 'a later failure does not make it younger');
});

t.test('async iteration yields every letter in order, a page at a time', async (t) => {
  const dlq = await openStore(t);
  // 2500 letters over 5 timestamps: pages end in the middle of a run of equal times, so the id tie-break matters.
  const ids = Array.from({ length: 2500 }, (_, i) => `m-${String(i).padStart(5, '0')}`);
  const shuffled = ids.map((id, i) => letter(id, { failedAt: at(Math.floor(i / 500)) })).reverse();
  for (let i = 0; i < shuffled.length; i += 700) await dlq.put(shuffled.slice(i, i + 700));
  const seen = [];
  for await (const l of dlq) seen.push(l.id);
  t.equal(seen.length, ids.length);
  t.strictSame(seen, ids, 'oldest first, then by id, no repeats');

  let deleted = 0;
  for await (const l of dlq) deleted += await dlq.delete(l.key);
  t.equal(deleted, ids.length, 'deleting while iterating skips nothing');
  t.equal(await dlq.count(), 0);
});

t.test('concurrent puts all land, with the same-id rules applied in put order', async (t) => {
  const dlq = await openStore(t);
  const puts = [];
  for (let i = 0; i < 50; i++) puts.push(dlq.put([letter(`c${i}`), letter('shared', { failedAt: at(i) })]));
  await Promise.all(puts);
  t.equal(await dlq.count(), 51);
  const shared = await dlq.get('shared');
  t.equal(shared.attempts, 50);
  t.equal(shared.firstFailedAt.getTime(), at(0).getTime());
  t.equal(shared.lastFailedAt.getTime(), at(49).getTime());
});

t.test('a bad letter fails its own put; a failed write fails every put written with it', async (t) => {
  const dlq = await openStore(t);
  const badDate = dlq.put([letter('bad', { failedAt: new Date('nope') })]);
  const good = dlq.put([letter('good')]);
  await t.rejects(badDate, { code: 'MISSIVE_ERR_DLQ', message: /bad.*failedAt/ });
  await t.rejects(dlq.put([letter('big', { headers: { n: 1n } })]), { message: /big.*headers.*JSON/ });
  await t.rejects(dlq.put([letter('neg', { attempts: -1 })]), { message: /neg.*attempts must be an integer/ });
  await good;

  // A body that is not bytes gets past the types only in JavaScript; it fails inside the write.
  const group = [dlq.put([letter('g1')]), dlq.put([{ ...letter('g2'), body: 'not bytes' }]), dlq.put([letter('g3')])];
  for (const put of group) await t.rejects(put, { code: 'MISSIVE_ERR_DLQ', message: dlq.path });
  t.strictSame(
    (await dlq.list()).map((l) => l.id),
    ['good'],
    'nothing of the failed group was stored',
  );
  await dlq.put([letter('after')]);
  t.equal(await dlq.count(), 2, 'the store still works');
});

t.test('close waits for pending puts; the store is unusable after', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
  const pending = dlq.put([letter('last')]);
  await dlq.close();
  await pending;
  await dlq.close();
  await t.rejects(dlq.put([letter('x')]), { code: 'MISSIVE_ERR_DLQ', message: /closed/ });
  await t.rejects(dlq.count(), { code: 'MISSIVE_ERR_DLQ', message: /closed/ });

  const again = await DuckDbDlq.open(path);
  t.teardown(() => again.close());
  t.equal((await again.get('last')).id, 'last');
});

t.test('the file is a plain table for any DuckDB client', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([
    letter('a', { reason: 'nacked', headers: { routingKey: 'orders.created' } }),
    letter('b', { reason: 'nacked' }),
    letter('c'),
  ]);
  await dlq.close();

  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  t.teardown(() => {
    connection.closeSync();
    instance.closeSync();
  });
  const count = await connection.runAndReadAll('SELECT count(*) FROM dead_letters WHERE reason = $1', ['nacked']);
  t.equal(count.getRows()[0][0], 2n);
  const json = await connection.runAndReadAll("SELECT headers->>'routingKey' FROM dead_letters WHERE id = 'a'");
  t.equal(json.getRows()[0][0], 'orders.created', 'headers are queryable JSON');
  const columns = await connection.runAndReadAll('SELECT column_name, column_type FROM (DESCRIBE dead_letters)');
  t.strictSame(Object.fromEntries(columns.getRows()), {
    key: 'VARCHAR',
    id: 'VARCHAR',
    body: 'BLOB',
    reason: 'VARCHAR',
    error: 'VARCHAR',
    handler: 'VARCHAR',
    source: 'VARCHAR',
    headers: 'JSON',
    attempts: 'INTEGER',
    first_failed_at: 'TIMESTAMP WITH TIME ZONE',
    last_failed_at: 'TIMESTAMP WITH TIME ZONE',
    fingerprint_name: 'VARCHAR',
    fingerprint_host: 'VARCHAR',
    fingerprint_pid: 'INTEGER',
    fingerprint_version: 'VARCHAR',
    confidential: 'BOOLEAN',
  });
});

t.test('a file open in another process is reported as locked', async (t) => {
  const dlq = await openStore(t);
  const result = await openElsewhere(dlq.path);
  t.equal(result.code, 'MISSIVE_ERR_DLQ_LOCKED');
  t.match(result.message, dlq.path);
  await dlq.close();
  t.strictSame(await openElsewhere(dlq.path), { ok: true }, 'free again once closed');
});

t.test('opening the same file twice in one process is refused', async (t) => {
  const dlq = await openStore(t);
  await t.rejects(DuckDbDlq.open(dlq.path), { code: 'MISSIVE_ERR_DLQ', message: /already open in this process/ });
});

t.test('a missing directory is reported with the path and what to do', async (t) => {
  const path = join(t.testdir(), 'no', 'such', 'dir', 'dead.duckdb');
  const error = await DuckDbDlq.open(path).catch((e) => e);
  t.equal(error.code, 'MISSIVE_ERR_DLQ');
  t.match(error.message, path);
  t.match(error.message, /does not exist; create it \(mkdir -p .*\) or choose a path/);
});

t.test('a file that is not a DuckDB database is refused, and left alone', async (t) => {
  const path = join(t.testdir({ 'notes.duckdb': 'just some text\n' }), 'notes.duckdb');
  const error = await DuckDbDlq.open(path).catch((e) => e);
  t.equal(error.code, 'MISSIVE_ERR_DLQ');
  t.match(error.message, path);
  t.match(error.message, /choose another path/);
  t.equal(readFileSync(path, 'utf8'), 'just some text\n');
});

t.test('a directory in place of the file is refused', async (t) => {
  const dir = t.testdir({ 'dead.duckdb': {} });
  await t.rejects(DuckDbDlq.open(join(dir, 'dead.duckdb')), { code: 'MISSIVE_ERR_DLQ', message: /is a directory/ });
});

t.test('a table with other columns is refused', async (t) => {
  const path = join(t.testdir(), 'other.duckdb');
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  await connection.run('CREATE TABLE dead_letters (id VARCHAR, payload VARCHAR)');
  connection.closeSync();
  instance.closeSync();
  const refused = { code: 'MISSIVE_ERR_DLQ', message: /other columns \(id, payload\)/ };
  await t.rejects(DuckDbDlq.open(path), refused);
  await t.rejects(DuckDbDlq.open(path), refused, 'a failed open releases the file');
});

t.test('a read-only directory is reported with the path and what to do', async (t) => {
  const dir = join(t.testdir(), 'read-only');
  mkdirSync(dir);
  const path = join(dir, 'dead.duckdb');
  const check = (error) => {
    t.equal(error.code, 'MISSIVE_ERR_DLQ');
    t.match(error.message, path);
    t.match(error.message, /is not writable; choose a writable path/);
  };
  chmodSync(dir, 0o555);
  // Restored before the test ends, so that tap can remove its test directory as any user.
  try {
    if (!writes(join(dir, 'probe'))) return check(await DuckDbDlq.open(path).catch((e) => e));
    // Permissions do not stop root, so as root the check runs in a child process as an unprivileged user.
    if (process.getuid?.() !== 0) return t.skip('the directory is writable despite mode 0555 (unusual file system)');
    check(await openElsewhere(path, { uid: 65534, gid: 65534 }));
  } finally {
    chmodSync(dir, 0o755);
  }
});

function writes(file) {
  try {
    writeFileSync(file, '');
    rmSync(file);
    return true;
  } catch {
    return false;
  }
}

t.test('MemoryDlq and DuckDbDlq answer the same sequence the same way', async (t) => {
  const steps = [
    ['put', [letter('a', { failedAt: at(5), handler: 'charge', headers: { k: 1 } }), letter('b', { failedAt: at(2) })]],
    ['put', [letter('c', { failedAt: at(9), reason: 'timeout after 9 ms', handler: 'ship' })]],
    // d fails at the same time as b: the id breaks the tie.
    [
      'put',
      [letter('a', { failedAt: at(11), reason: 'timeout after 1 ms', attempts: 3 }), letter('d', { failedAt: at(2) })],
    ],
    ['put', [letter('b', { failedAt: at(12) }), letter('b', { failedAt: at(13), error: 'again' })]],
    ['get', 'a'],
    ['get', 'b'],
    ['get', 'zzz'],
    ['count', {}],
    ['count', { reason: 'timeout*' }],
    ['count', { handler: 'ship', since: at(9) }],
    ['list', {}],
    ['list', { limit: 2, offset: 1 }],
    ['list', { reason: 'handler failed', since: at(12) }],
    ['oldest'],
    ['delete', ['d', 'zzz']],
    ['oldest'],
    ['iterate'],
    ['delete', 'a'],
    ['count', {}],
  ];
  const play = async (dlq) => {
    const results = [];
    for (const [op, arg] of steps) {
      if (op === 'iterate') {
        const all = [];
        for await (const l of dlq) all.push(l);
        results.push(all);
      } else results.push(await dlq[op](arg));
    }
    return results;
  };
  const memory = await play(new MemoryDlq());
  const duck = await play(await openStore(t, {}));
  for (const [i, [op]] of steps.entries()) t.same(duck[i], memory[i], `step ${i}: ${op}`);
});

t.test('the confidential mark survives a reopen, and defaults to false', async (t) => {
  const path = join(t.testdir(), 'secret.duckdb');
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([
    { id: 'secret', body: Buffer.from('pan'), reason: 'handler failed', confidential: true },
    { id: 'plain', body: Buffer.from('x'), reason: 'handler failed' },
  ]);
  await dlq.close();
  const again = await DuckDbDlq.open(path);
  t.teardown(() => again.close());
  t.equal((await again.get('secret')).confidential, true);
  t.equal((await again.get('plain')).confidential, false);
});
