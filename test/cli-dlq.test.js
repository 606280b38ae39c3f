// `missive dlq` as users run it: the real CLI in a child process, against real DuckDB files.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { CLI, fixture, runCli } from './helpers/cli.js';

const at = (hour, minute = 0) => new Date(Date.UTC(2024, 0, 1, hour, minute));
const dlqCli = (args, options) => runCli(['dlq', ...args], options);

/** Puts letters into a fresh DuckDB file and closes it, as a processor that has stopped would leave it. */
async function fill(path, letters) {
  const dlq = await DuckDbDlq.open(path, {
    fingerprint: { name: 'filler', host: 'test-host', pid: 4242, version: '9.9.9' },
  });
  try {
    await dlq.put(letters);
  } finally {
    await dlq.close();
  }
}

/** Every letter in the file, oldest first, by id. */
async function stored(path) {
  const dlq = await DuckDbDlq.open(path);
  try {
    return new Map((await dlq.list({ limit: 1_000_000 })).map((letter) => [letter.id, letter]));
  } finally {
    await dlq.close();
  }
}

/** A file filled by `missive run` over mixed input: 4 handler failed, 3 no matching handler, 2 decode failed, 1 nacked. */
async function runMixed(t) {
  const dir = t.testdir();
  const lines = [
    '{"type":"ok"}',
    '{"type":"boom","n":1}',
    '{"type":"mystery"}',
    '{"type":"boom","n":2}',
    'not json',
    '{"type":"nack"}',
    '{"type":"mystery"}',
    '{"type":"boom","n":3}',
    '{broken',
    '{"type":"mystery"}',
    '{"type":"boom","n":4}',
    '{"type":"ok"}',
  ];
  writeFileSync(join(dir, 'in.jsonl'), `${lines.join('\n')}\n`);
  const path = join(dir, 'dead.duckdb');
  const result = await runCli([
    'run',
    fixture('mixed-processor.js'),
    '--input',
    join(dir, 'in.jsonl'),
    '--dlq',
    path,
    '--threads',
    '0',
  ]);
  t.equal(result.code, 0, 'missive run filled the file', { stderr: result.stderr });
  return path;
}

/** Letters with known times, bodies and fields, for the output tests. */
function sampleLetters() {
  return [
    {
      id: 'a-text',
      body: Buffer.from('{"order":1,"note":"line one\\nline two"}'),
      reason: 'handler failed',
      handler: 'orders',
      source: 'amqp:orders',
      headers: { routingKey: 'orders.placed', 'x-tenant': 'acme' },
      error: 'Error: no stock\n    at reserve (orders.js:10:5)',
      attempts: 3,
      failedAt: at(9),
    },
    {
      id: 'b-binary',
      body: Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0a, 0x80]),
      reason: 'decode failed',
      error: 'SyntaxError: Unexpected token',
      source: 'stdin',
      failedAt: at(10),
    },
    {
      id: 'c-long',
      body: Buffer.from(`tab\there\r\nnul\u0000${'x'.repeat(100)}`),
      reason: 'timeout after 500 ms',
      handler: 'slow',
      failedAt: at(11),
    },
    {
      id: 'd-secret',
      body: Buffer.from('{"card":"4111 1111 1111 1111"}'),
      reason: 'handler failed',
      handler: 'charge',
      error: 'Error: declined: {"card":"4111 1111 1111 1111"}',
      confidential: true,
      failedAt: at(12),
    },
    {
      id: 'e-other',
      body: Buffer.from('{"type":"mystery"}'),
      reason: 'timeout after 100 ms',
      handler: 'slow',
      failedAt: at(13),
    },
  ];
}

async function sampleFile(t) {
  const path = join(t.testdir(), 'sample.duckdb');
  await fill(path, sampleLetters());
  return path;
}

t.test('count: everything, reason exact and prefix, handler, since (relative and ISO)', async (t) => {
  const path = await runMixed(t);
  const count = async (...args) => {
    const result = await dlqCli(['count', '--dlq', path, ...args]);
    t.equal(result.code, 0, `count ${args.join(' ')} exits 0`, { stderr: result.stderr });
    return result.stdout;
  };
  t.equal(await count(), '10\n', 'a bare number');
  t.equal(await count('--reason', 'handler failed'), '4\n');
  t.equal(await count('--reason', 'handler'), '0\n', 'without * the reason is exact');
  t.equal(await count('--reason', 'n*'), '4\n', 'prefix: no matching handler + nacked');
  t.equal(await count('--handler', 'boom'), '4\n');
  t.equal(await count('--handler', 'boom', '--reason', 'decode*'), '0\n', 'filters combine');
  t.equal(await count('--since', '1h'), '10\n');
  t.equal(await count('--since', '2000-01-01'), '10\n');
  t.equal(await count('--since', '2999-01-01T00:00:00Z'), '0\n');

  const sample = await sampleFile(t);
  const sinceCount = async (since) => (await dlqCli(['count', '--dlq', sample, '--since', since])).stdout;
  t.equal(await sinceCount('2024-01-01T11:00:00Z'), '3\n', 'at or after the given time');
  t.equal(await sinceCount('2024-01-01T11:00:01Z'), '2\n');

  for (const bad of ['yesterday', '5 minutes', '1', '2024-13-45']) {
    const result = await dlqCli(['count', '--dlq', path, '--since', bad]);
    t.equal(result.code, 2, `--since ${bad} is a usage error`);
    t.match(result.stderr, /--since takes an ISO date or time .* or an age/);
  }
});

t.test('list: an aligned table, oldest first, escaped body previews, masked confidential bodies', async (t) => {
  const path = await sampleFile(t);
  const result = await dlqCli(['list', '--dlq', path]);
  t.equal(result.code, 0, { stderr: result.stderr });
  const lines = result.stdout.trimEnd().split('\n');
  t.equal(lines.length, 6, 'a heading and one line per letter');
  t.match(lines[0], /^ID\s+KEY\s+REASON\s+HANDLER\s+ATTEMPTS\s+LAST FAILED\s+BODY$/);
  t.same(
    lines.slice(1).map((line) => line.split(' ')[0]),
    ['a-text', 'b-binary', 'c-long', 'd-secret', 'e-other'],
    'oldest first',
  );
  for (const heading of ['REASON', 'HANDLER', 'ATTEMPTS', 'LAST FAILED', 'BODY']) {
    const column = lines[0].indexOf(heading);
    for (const line of lines.slice(1)) t.not(line[column], ' ', `${heading} starts in the same column on every line`);
    for (const line of lines.slice(1)) t.equal(line[column - 1], ' ', `${heading} is preceded by a space`);
  }
  const row = (id) => lines.find((line) => line.startsWith(id));
  t.match(
    row('a-text'),
    /handler failed\s+orders\s+3\s+2024-01-01T09:00:00Z\s+\{"order":1,"note":"line one\\nline two"\}$/,
    'a JSON escape in the body shows as it is',
  );
  t.match(
    row('b-binary'),
    /decode failed\s+-\s+1\s+2024-01-01T10:00:00Z\s+\\x00\\xff\\xfeA\\n\\x80$/,
    'invalid UTF-8 bytes as \\xNN',
  );
  const preview = row('c-long').slice(lines[0].indexOf('BODY'));
  t.equal(
    preview,
    `tab\\there\\r\\nnul\\x00${'x'.repeat(60 - 19 - 1)}…`.slice(0, preview.length),
    'control characters escaped',
  );
  t.ok(preview.endsWith('…'), 'a long body is cut');
  t.equal([...preview].length, 61, 'to 60 characters and an ellipsis');
  t.match(row('d-secret'), /\(confidential\)$/);
  t.notMatch(result.stdout, /4111/, 'no confidential body in the table');
  t.equal(result.stderr, '', 'nothing more to show: no note');

  const revealed = await dlqCli(['list', '--dlq', path, '--reveal']);
  t.match(revealed.stdout, /\{"card":"4111 1111 1111 1111"\}/, '--reveal shows it');

  const limited = await dlqCli(['list', '--dlq', path, '--limit', '2', '--reason', '*']);
  t.equal(limited.stdout.trimEnd().split('\n').length, 3, '--limit 2: two letters');
  t.match(limited.stderr, /showing 2 of 5; raise --limit/, 'and a note on stderr');

  const timeouts = await dlqCli(['list', '--dlq', path, '--reason', 'timeout*', '--handler', 'slow']);
  t.same(
    timeouts.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(' ')[0]),
    ['c-long', 'e-other'],
  );

  const none = await dlqCli(['list', '--dlq', path, '--reason', 'nacked']);
  t.equal(none.code, 0);
  t.match(none.stdout, /no dead letters match the filters in /);

  const badLimit = await dlqCli(['list', '--dlq', path, '--limit', '0']);
  t.equal(badLimit.code, 2, '--limit 0 is a usage error');
});

t.test('list --json: one array of whole letters', async (t) => {
  const path = await sampleFile(t);
  const result = await dlqCli(['list', '--dlq', path, '--json']);
  t.equal(result.code, 0, { stderr: result.stderr });
  const letters = JSON.parse(result.stdout);
  t.equal(letters.length, 5);
  t.match(letters[0].key, /^[0-9a-f]{32}$/, 'each letter has its key');
  const { key: _key, ...first } = letters[0];
  t.same(first, {
    id: 'a-text',
    reason: 'handler failed',
    error: 'Error: no stock\n    at reserve (orders.js:10:5)',
    handler: 'orders',
    source: 'amqp:orders',
    headers: { routingKey: 'orders.placed', 'x-tenant': 'acme' },
    attempts: 3,
    firstFailedAt: '2024-01-01T09:00:00.000Z',
    lastFailedAt: '2024-01-01T09:00:00.000Z',
    fingerprint: { name: 'filler', host: 'test-host', pid: 4242, version: '9.9.9' },
    confidential: false,
    body: '{"order":1,"note":"line one\\nline two"}',
  });
  t.equal(letters[1].bodyBase64, Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0a, 0x80]).toString('base64'));
  t.notOk('body' in letters[1]);
  t.equal(letters[3].masked, true, 'a confidential letter is masked');
  t.notOk('body' in letters[3] || 'error' in letters[3], 'neither its body nor its error');
  const limited = JSON.parse((await dlqCli(['list', '--dlq', path, '--json', '--limit', '1'])).stdout);
  t.same(
    limited.map((l) => l.id),
    ['a-text'],
  );
});

t.test('show: every field, text or base64 body, headers, error with stack; unknown id exits 1', async (t) => {
  const path = await sampleFile(t);
  const text = await dlqCli(['show', 'a-text', '--dlq', path]);
  t.equal(text.code, 0, { stderr: text.stderr });
  t.match(text.stdout, /^id\s+a-text$/m);
  t.match(text.stdout, /^reason\s+handler failed$/m);
  t.match(text.stdout, /^handler\s+orders$/m);
  t.match(text.stdout, /^source\s+amqp:orders$/m);
  t.match(text.stdout, /^attempts\s+3$/m);
  t.match(text.stdout, /^first failed\s+2024-01-01T09:00:00.000Z$/m);
  t.match(text.stdout, /^last failed\s+2024-01-01T09:00:00.000Z$/m);
  t.match(text.stdout, /^written by\s+filler on test-host \(pid 4242, missive-node 9\.9\.9\)$/m);
  t.match(text.stdout, /^confidential\s+no$/m);
  t.match(text.stdout, `headers\n${JSON.stringify({ routingKey: 'orders.placed', 'x-tenant': 'acme' }, null, 2)}\n`);
  t.match(text.stdout, 'body (39 bytes, UTF-8 text)\n{"order":1,"note":"line one\\nline two"}\n');
  t.match(text.stdout, 'error\nError: no stock\n    at reserve (orders.js:10:5)\n');

  const binary = await dlqCli(['show', 'b-binary', '--dlq', path]);
  t.equal(binary.code, 0);
  t.match(
    binary.stdout,
    `body (6 bytes, not valid UTF-8: shown as base64)\n${Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0a, 0x80]).toString('base64')}\n`,
  );
  t.match(binary.stdout, /^handler\s+-$/m);
  t.match(binary.stdout, 'headers\n(none)');

  const control = await dlqCli(['show', 'c-long', '--dlq', path]);
  t.match(
    control.stdout,
    /body \(\d+ bytes, UTF-8 with control characters: shown as base64\)/,
    'no raw control bytes on the terminal',
  );

  const secret = await dlqCli(['show', 'd-secret', '--dlq', path]);
  t.notMatch(secret.stdout, /4111/, 'confidential body and error masked');
  t.match(secret.stdout, /add --reveal/);
  const revealed = await dlqCli(['show', 'd-secret', '--dlq', path, '--reveal']);
  t.match(revealed.stdout, /declined: \{"card":"4111 1111 1111 1111"\}/);

  const json = await dlqCli(['show', 'b-binary', '--dlq', path, '--json']);
  t.equal(JSON.parse(json.stdout).id, 'b-binary');

  const unknown = await dlqCli(['show', 'no-such-id', '--dlq', path]);
  t.equal(unknown.code, 1);
  t.equal(unknown.stdout, '');
  t.match(
    unknown.stderr,
    /no dead letter with id or key "no-such-id" in .*sample\.duckdb; see the ids and keys with missive dlq list/,
  );

  t.equal((await dlqCli(['show', '--dlq', path])).code, 2, 'no id: usage error');
  t.equal((await dlqCli(['show', 'a', 'b', '--dlq', path])).code, 2, 'two ids: usage error');
});

t.test('export --format jsonl: one object per line, matching the store, filters apply', async (t) => {
  const path = await runMixed(t);
  // Add binary and many more letters, so the export spans several pages of the store's iteration.
  const extra = Array.from({ length: 2500 }, (_, i) => ({
    id: `bulk-${i}`,
    body: Buffer.from(`bulk ${i}`),
    reason: 'bulk',
    failedAt: at(1),
  }));
  extra.push({ id: 'raw', body: Buffer.from([0xc3, 0x28, 0x00]), reason: 'decode failed', failedAt: at(2) });
  await fill(path, extra);
  const store = await stored(path);

  const result = await dlqCli(['export', '--dlq', path, '--format', 'jsonl']);
  t.equal(result.code, 0, { stderr: result.stderr });
  const lines = result.stdout.split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  const records = lines.map((line) => JSON.parse(line));
  t.equal(records.length, store.size, 'one line per letter');
  t.equal(new Set(records.map((r) => r.id)).size, store.size, 'each once');
  let mismatches = 0;
  for (const record of records) {
    const letter = store.get(record.id);
    const body =
      record.body !== undefined ? Buffer.from(record.body, 'utf8') : Buffer.from(record.bodyBase64, 'base64');
    if (
      !letter ||
      !body.equals(letter.body) ||
      record.reason !== letter.reason ||
      record.error !== letter.error ||
      record.handler !== letter.handler ||
      record.source !== letter.source ||
      record.attempts !== letter.attempts ||
      record.firstFailedAt !== letter.firstFailedAt.toISOString() ||
      record.lastFailedAt !== letter.lastFailedAt.toISOString()
    ) {
      mismatches++;
    }
  }
  t.equal(mismatches, 0, 'every record matches its stored letter, body bytes included');
  t.ok(records.find((r) => r.id === 'raw').bodyBase64, 'invalid UTF-8 goes out as bodyBase64');
  t.equal(records.find((r) => r.id === 'bulk-7').body, 'bulk 7');

  const defaultFormat = await dlqCli(['export', '--dlq', path, '--reason', 'handler failed']);
  const handlerFailed = defaultFormat.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.equal(handlerFailed.length, 4, 'jsonl is the default, and filters apply');
  t.ok(handlerFailed.every((r) => r.reason === 'handler failed' && r.handler === 'boom'));
  t.match(handlerFailed[0].error, /Error: boom \d/);

  const csv = await dlqCli(['export', '--dlq', path, '--format', 'csv']);
  t.equal(csv.code, 2);
  t.match(csv.stderr, /--format takes jsonl/);
  t.equal(csv.stdout, '');
});

t.test('purge: --yes deletes only what the filters select; without a terminal and --yes, nothing', async (t) => {
  const path = await runMixed(t);
  const before = await stored(path);

  const refused = await dlqCli(['purge', '--dlq', path, '--reason', 'handler failed']);
  t.equal(refused.code, 2, 'no terminal, no --yes: usage error');
  t.match(refused.stderr, /add --yes/);
  t.equal((await stored(path)).size, before.size, 'nothing deleted');

  const purged = await dlqCli(['purge', '--dlq', path, '--reason', 'handler failed', '--yes']);
  t.equal(purged.code, 0, { stderr: purged.stderr });
  t.match(purged.stdout, /^deleted 4 dead letters from .*dead\.duckdb\n$/);
  const after = await stored(path);
  t.equal(after.size, before.size - 4);
  t.notOk(
    [...after.values()].some((l) => l.reason === 'handler failed'),
    'those are gone',
  );
  t.same(
    [...after.keys()].sort(),
    [...before.values()]
      .filter((l) => l.reason !== 'handler failed')
      .map((l) => l.id)
      .sort(),
    'every other letter is still there',
  );

  const prefix = await dlqCli(['purge', '--dlq', path, '--reason', 'n*', '--yes']);
  t.match(prefix.stdout, /^deleted 4 dead letters/);
  const nothing = await dlqCli(['purge', '--dlq', path, '--reason', 'nope', '--yes']);
  t.equal(nothing.code, 0);
  t.match(nothing.stdout, /no dead letters match the filters .*; nothing deleted/);
  const all = await dlqCli(['purge', '--dlq', path, '--yes']);
  t.match(all.stdout, /^deleted 2 dead letters/);
  t.equal((await stored(path)).size, 0);
});

t.test(
  'purge on a terminal asks first',
  { skip: hasScript() ? false : 'needs script(1) for a terminal' },
  async (t) => {
    const path = await runMixed(t);
    const onTerminal = (answer, ...args) =>
      spawnSync(
        'script',
        [
          '-qec',
          [process.execPath, CLI, 'dlq', 'purge', '--dlq', path, ...args].map(shellQuote).join(' '),
          '/dev/null',
        ],
        {
          input: `${answer}\n`,
          encoding: 'utf8',
        },
      );
    const no = onTerminal('n', '--reason', 'decode failed');
    t.match(no.stdout, /delete 2 dead letters from .*dead\.duckdb\? \[y\/N\]/);
    t.match(no.stdout, /nothing deleted/);
    t.equal((await stored(path)).size, 10);
    const yes = onTerminal('y', '--reason', 'decode failed');
    t.match(yes.stdout, /deleted 2 dead letters/);
    t.equal((await stored(path)).size, 8);
  },
);

t.test(
  'replay: handled letters leave the store, the others stay with one more attempt and the new reason',
  async (t) => {
    const path = join(t.testdir(), 'replay.duckdb');
    const letters = [];
    for (let i = 0; i < 8; i++) {
      letters.push({
        id: `r${i}`,
        body: Buffer.from(JSON.stringify({ fixed: i % 2 === 0, i })),
        reason: 'no matching handler',
        source: 'amqp:orders',
        headers: { routingKey: 'orders' },
        attempts: 2,
        failedAt: at(8, i),
      });
    }
    letters.push({ id: 'other', body: Buffer.from('{"fixed":true}'), reason: 'nacked', failedAt: at(9) });
    await fill(path, letters);

    const result = await dlqCli([
      'replay',
      fixture('replay-processor.js'),
      '--dlq',
      path,
      '--reason',
      'no matching handler',
    ]);
    t.equal(result.code, 0, { stderr: result.stderr });
    t.equal(result.stdout, 'replayed 8: 4 handled, 4 failed again\n');
    const after = await stored(path);
    t.same(
      [...after.keys()].sort(),
      ['other', 'r1', 'r3', 'r5', 'r7'],
      'the fixed ones are gone; the unselected one is untouched',
    );
    for (const id of ['r1', 'r3', 'r5', 'r7']) {
      const letter = after.get(id);
      t.equal(letter.attempts, 3, `${id}: attempts + 1`);
      t.equal(letter.reason, 'handler failed', `${id}: the new reason`);
      t.match(letter.error, /Error: still broken: \{"fixed":false/, `${id}: the new error`);
      t.equal(letter.handler, 'repaired');
      t.equal(letter.source, 'amqp:orders', `${id}: the original source`);
      t.equal(letter.headers.routingKey, 'orders', `${id}: the original headers`);
      t.equal(letter.firstFailedAt.getTime(), at(8, Number(id.slice(1))).getTime(), `${id}: first failure kept`);
      t.ok(letter.lastFailedAt > at(9), `${id}: last failure is now`);
    }
    t.equal(after.get('other').attempts, 1);
    t.equal(after.get('other').reason, 'nacked');

    const again = await dlqCli([
      'replay',
      fixture('replay-processor.js'),
      '--dlq',
      path,
      '--limit',
      '2',
      '--threads',
      '1',
    ]);
    t.equal(again.code, 0, { stderr: again.stderr });
    t.equal(again.stdout, 'replayed 2: 0 handled, 2 failed again\n', '--limit, oldest first, in a worker thread');
    const last = await stored(path);
    t.same(
      ['r1', 'r3', 'r5', 'r7', 'other'].map((id) => last.get(id).attempts),
      [4, 4, 3, 3, 1],
    );
  },
);

t.test('replay of many letters reads each once, a page at a time', async (t) => {
  const path = join(t.testdir(), 'many.duckdb');
  const letters = Array.from({ length: 3000 }, (_, i) => ({
    id: `m${String(i).padStart(4, '0')}`,
    body: Buffer.from(JSON.stringify({ fixed: i % 3 === 0 })),
    reason: 'handler failed',
    failedAt: at(0, i % 60),
  }));
  await fill(path, letters);
  const result = await dlqCli(['replay', fixture('replay-processor.js'), '--dlq', path, '--threads', '2']);
  t.equal(result.code, 0, { stderr: result.stderr.slice(0, 2000) });
  t.equal(result.stdout, 'replayed 3000: 1000 handled, 2000 failed again\n', 'letters written back are not read again');
  const after = await stored(path);
  t.equal(after.size, 2000);
  t.ok(
    [...after.values()].every((l) => l.attempts === 2),
    'each tried once more',
  );
});

t.test('replay usage errors exit 2 before the file is touched', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'never.duckdb');
  const missingModule = await dlqCli(['replay', join(dir, 'nope.js'), '--dlq', path]);
  t.equal(missingModule.code, 2);
  t.match(missingModule.stderr, /cannot find the processor module/);
  const notProcessor = await dlqCli(['replay', fixture('not-a-processor.js'), '--dlq', path]);
  t.equal(notProcessor.code, 2);
  t.equal((await dlqCli(['replay', '--dlq', path])).code, 2, 'no module');
  t.equal((await dlqCli(['replay', fixture('replay-processor.js'), '--threads', 'x', '--dlq', path])).code, 2);
  t.notOk(existsSync(path), 'no file created');
});

t.test(
  'a file locked by a process that does not answer for it: every action exits 1 and says who holds it',
  async (t) => {
    const path = await sampleFile(t);
    // Held with its socket off: as another DuckDB program, or an older missive, would hold it.
    const held = await DuckDbDlq.open(path, { serve: false });
    t.teardown(() => held.close());
    for (const args of [
      ['count'],
      ['list'],
      ['show', 'a-text'],
      ['export'],
      ['sql', 'SELECT 1'],
      ['purge', '--yes'],
      ['replay', fixture('replay-processor.js')],
    ]) {
      const result = await dlqCli([...args, '--dlq', path]);
      t.equal(result.code, 1, `${args[0]} exits 1`);
      t.match(
        result.stderr,
        new RegExp(
          `the dead-letter file .*sample\\.duckdb is locked and nobody answers for it on .*: process ${process.pid} holds it \\(see what it is with: ps -o pid,args -p ${process.pid}\\)`,
        ),
      );
      t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
      t.notMatch(result.stderr, /Could not set lock/, "not DuckDB's own text");
    }
    t.equal(await held.count(), 5, 'nothing was deleted');
  },
);

t.test('a missing file: exit 1, no new file', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'absent.duckdb');
  for (const args of [['count'], ['list'], ['show', 'x'], ['export'], ['purge', '--yes']]) {
    const result = await dlqCli([...args, '--dlq', path]);
    t.equal(result.code, 1, `${args[0]} exits 1`);
    t.match(result.stderr, `no dead-letter file at ${path}`);
  }
  const byDefault = await dlqCli(['count'], { cwd: dir });
  t.equal(byDefault.code, 1);
  t.match(byDefault.stderr, 'no dead-letter file at ./missive-dlq.duckdb');
  t.notOk(existsSync(path) || existsSync(join(dir, 'missive-dlq.duckdb')), 'nothing was created');
});

t.test('--help for dlq and every action; usage errors exit 2', async (t) => {
  const overview = await dlqCli(['--help']);
  t.equal(overview.code, 0);
  t.match(overview.stdout, /^Usage: missive dlq <action> \[options\]/);
  for (const action of ['count', 'list', 'show', 'export', 'purge', 'replay'])
    t.match(overview.stdout, new RegExp(`^  ${action}\\b`, 'm'));
  const bare = await dlqCli([]);
  t.equal(bare.code, 2, 'no action: the overview, exit 2');
  t.match(bare.stdout, /Usage: missive dlq/);

  const expected = {
    count: ['--dlq', '--reason', '--handler', '--since'],
    list: ['--dlq', '--reason', '--handler', '--since', '--limit', '--json', '--reveal'],
    show: ['--dlq', '--json', '--reveal'],
    export: ['--dlq', '--reason', '--handler', '--since', '--format', '--reveal'],
    purge: ['--dlq', '--reason', '--handler', '--since', '--yes'],
    replay: ['--dlq', '--reason', '--handler', '--since', '--limit', '--threads'],
  };
  for (const [action, flags] of Object.entries(expected)) {
    const result = await dlqCli([action, '--help']);
    t.equal(result.code, 0, `${action} --help exits 0`);
    t.match(result.stdout, new RegExp(`^Usage: missive dlq ${action}`));
    for (const flag of [...flags, '--help'])
      t.match(result.stdout, new RegExp(`^  ${flag}\\b`, 'm'), `${action} --help lists ${flag}`);
    t.match(result.stdout, /\(default: \.\/missive-dlq\.duckdb\)/);
  }

  const unknownAction = await dlqCli(['peek']);
  t.equal(unknownAction.code, 2);
  t.match(unknownAction.stderr, /unknown dlq action 'peek'; the actions are count, list, show, export, purge, replay/);
  const unknownFlag = await dlqCli(['count', '--colour']);
  t.equal(unknownFlag.code, 2);
  t.match(unknownFlag.stderr, /dlq count: .*--colour.*see 'missive dlq count --help'/);
  t.equal((await dlqCli(['count', 'extra'])).code, 2, 'stray argument');
});

function hasScript() {
  return spawnSync('script', ['--version']).status === 0;
}

function shellQuote(arg) {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

t.test('sql runs a read-only query on the dead_letters table', async (t) => {
  const path = await sampleFile(t);
  const expected = new Map();
  for (const letter of sampleLetters()) expected.set(letter.reason, (expected.get(letter.reason) ?? 0) + 1);
  const json = await dlqCli([
    'sql',
    'SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason',
    '--json',
    '--dlq',
    path,
  ]);
  t.equal(json.code, 0, 'exits 0', { stderr: json.stderr });
  const rows = JSON.parse(json.stdout);
  t.same(new Map(rows.map((r) => [r.reason, Number(r.n)])), expected, 'counts by reason, straight from SQL');
  const table = await dlqCli(['sql', 'SELECT id FROM dead_letters ORDER BY id LIMIT 1', '--dlq', path]);
  t.match(table.stdout, /^id\n-+\n\S+\n\(1 row\)\n$/);
  const before = (await stored(path)).size;
  const write = await dlqCli(['sql', 'DELETE FROM dead_letters', '--dlq', path]);
  t.equal(write.code, 2, 'refused as a usage error');
  t.match(write.stderr, /read-only/);
  t.equal((await stored(path)).size, before, 'nothing deleted');
  const usage = await dlqCli(['sql', '--dlq', path]);
  t.equal(usage.code, 2);
});
