// The PostgreSQL dead-letter store through the real CLI: `missive run --dlq postgres://...` and every `missive dlq`
// command on it, letter identity, the `dlq sql` sandbox, several runs writing one database, and connections cut
// or the database gone mid-run. Each test has a database of its own on the shared server.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, runCli, startCli, waitForOutput } from './helpers/cli.js';
import { adminQuery, cutConnections, needPostgres, relay, testDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { call, sampleLetters, startServe } from './fixtures/serve-helpers.js';
import { PostgresDlq } from '../dist/dlq/index.js';

const needed = await needPostgres();
// A copy per test: tap writes into the options object it is given (a filter sets skip on it).
const need = () => ({ ...needed });
const dlqCli = (args, options) => runCli(['dlq', ...args], options);

/** Every stored letter as [id, attempts], by id. */
async function stored(name) {
  const { rows } = await adminQuery('SELECT id, attempts FROM missive.dead_letters ORDER BY id', [], name);
  return rows.map((row) => [row.id, row.attempts]);
}

async function count(name) {
  const { rows } = await adminQuery('SELECT count(*)::int AS n FROM missive.dead_letters', [], name).catch(() => ({
    rows: [{ n: 0 }],
  }));
  return rows[0].n;
}

function mixedInput(dir) {
  const lines = [
    '{"type":"ok"}',
    '{"type":"boom","n":1}',
    '{"type":"mystery"}',
    'not json',
    '{"type":"nack"}',
    '{"type":"boom","n":2,"fixed":true}',
  ];
  const file = join(dir, 'in.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

t.test('missive run stores letters in PostgreSQL, and every dlq command works on them', need(), async (t) => {
  const { url, name } = await testDatabase(t);
  const dir = t.testdir();
  const input = mixedInput(dir);
  const run = await runCli(['run', fixture('mixed-processor.js'), '--input', input, '--dlq', url, '--threads', '0']);
  t.equal(run.code, 0, 'the run ends well', { stderr: run.stderr });
  t.match(run.stderr, `dead letters are in ${url}`, 'the summary names the store');
  t.equal(await count(name), 5, 'five letters in the table');

  const counted = await dlqCli(['count', '--dlq', url]);
  t.equal(counted.stdout, '5\n');
  const byReason = await dlqCli(['count', '--dlq', url, '--reason', 'handler*']);
  t.equal(byReason.stdout, '2\n', 'filters work');

  const list = await dlqCli(['list', '--dlq', url]);
  t.equal(list.code, 0, { stderr: list.stderr });
  const ids = list.stdout
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => line.split(/\s+/)[0]);
  t.same(
    ids,
    [2, 3, 4, 5, 6].map((n) => `${input}:${n}`),
    'listed in line order',
  );

  const shown = await dlqCli(['show', `${input}:2`, '--dlq', url, '--json']);
  t.equal(shown.code, 0, { stderr: shown.stderr });
  const letter = JSON.parse(shown.stdout);
  t.equal(letter.body, '{"type":"boom","n":1}');
  t.equal(letter.handler, 'boom');
  t.match(letter.error, /boom 1/);
  const byKey = await dlqCli(['show', letter.key, '--dlq', url]);
  t.match(byKey.stdout, /boom 1/, 'shown by its key too');

  // MISSIVE_DLQ names the store as --dlq does.
  const sql = await dlqCli(
    ['sql', 'SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason ORDER BY reason', '--json'],
    {
      env: { MISSIVE_DLQ: url },
    },
  );
  t.equal(sql.code, 0, { stderr: sql.stderr });
  t.same(JSON.parse(sql.stdout), [
    { reason: 'decode failed', n: '1' },
    { reason: 'handler failed', n: '2' },
    { reason: 'nacked', n: '1' },
    { reason: 'no matching handler', n: '1' },
  ]);

  const exported = await dlqCli(['export', '--dlq', url, '--reason', 'handler failed']);
  t.same(
    exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).body),
    ['{"type":"boom","n":1}', '{"type":"boom","n":2,"fixed":true}'],
  );

  const purged = await dlqCli(['purge', '--dlq', url, '--reason', 'nacked', '--yes']);
  t.equal(purged.code, 0, { stderr: purged.stderr });
  t.match(purged.stdout, /deleted 1 dead letter from/);
  t.equal(await count(name), 4);

  // The replay processor handles what mixed-processor could not: handled letters leave, the rest stay.
  const replayed = await dlqCli(['replay', fixture('replay-processor.js'), '--dlq', url]);
  t.equal(replayed.code, 0, { stderr: replayed.stderr });
  t.match(replayed.stdout, /replayed 4: 1 handled, 3 failed again/);
  t.equal(await count(name), 3, 'the handled letter left the store');
  const again = JSON.parse((await dlqCli(['show', `${input}:2`, '--dlq', url, '--json'])).stdout);
  t.same([again.attempts, again.reason], [2, 'handler failed'], 'a letter that failed again counts one more attempt');
});

t.test('the same message failing twice is one letter with attempts 2, from two runs', need(), async (t) => {
  const { url, name } = await testDatabase(t);
  const input = mixedInput(t.testdir());
  for (let i = 0; i < 2; i++) {
    const run = await runCli([
      'run',
      fixture('mixed-processor.js'),
      '--input',
      input,
      '--dlq',
      url,
      '--threads',
      '0',
      '--quiet',
    ]);
    t.equal(run.code, 0, { stderr: run.stderr });
  }
  const rows = await stored(name);
  t.equal(rows.length, 5, 'one letter per message');
  t.ok(
    rows.every(([, attempts]) => attempts === 2),
    'each with attempts 2',
  );
});

t.test(
  'an unreachable database or a bad URL stops the run at start, exit 2, without the password',
  need(),
  async (t) => {
    const input = mixedInput(t.testdir());
    const run = await runCli([
      'run',
      fixture('mixed-processor.js'),
      '--input',
      input,
      '--dlq',
      'postgres://postgres:hunter2@127.0.0.1:1/nowhere',
    ]);
    t.equal(run.code, 2);
    t.match(run.stderr, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere/);
    t.notMatch(run.stderr, /hunter2/);
    t.notMatch(run.stderr, /received/, 'no input was read');
    const missing = await dlqCli(['count', '--dlq', 'postgres://postgres@127.0.0.1:5432/missive_no_such_db']);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /does not exist/);
  },
);

t.test('dlq sql reads the letters and nothing else', need(), async (t) => {
  const { url, name } = await testDatabase(t);
  const dir = t.testdir();
  const input = join(dir, 'pay.jsonl');
  writeFileSync(input, '{"kind":"card","pan":"4111111111111111"}\n{"kind":"public","n":1}\n');
  const run = await runCli([
    'run',
    fixture('confidential-processor.js'),
    '--input',
    input,
    '--dlq',
    url,
    '--threads',
    '0',
    '--quiet',
  ]);
  t.equal(run.code, 0, { stderr: run.stderr });
  // dblink installed, so the test shows it refused for want of privileges, not for want of the function.
  await adminQuery('CREATE EXTENSION IF NOT EXISTS dblink', [], name).catch(() => {});
  await adminQuery('CREATE TABLE public.victim (n int)', [], name);

  const masked = await dlqCli([
    'sql',
    "SELECT convert_from(body, 'UTF8') AS body, error FROM dead_letters ORDER BY id",
    '--dlq',
    url,
    '--json',
  ]);
  t.equal(masked.code, 0, { stderr: masked.stderr });
  t.notMatch(masked.stdout, /4111/, 'the confidential body and error are masked');
  t.match(masked.stdout, /public failure/);
  const revealed = await dlqCli([
    'sql',
    "SELECT convert_from(body, 'UTF8') AS body FROM dead_letters",
    '--dlq',
    url,
    '--reveal',
  ]);
  t.match(revealed.stdout, /4111/, '--reveal shows it');

  const escapes = [
    "COPY (SELECT 1) TO '/tmp/missive-escape'",
    "COPY dead_letters TO PROGRAM 'touch /tmp/missive-escape'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('/')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT dblink('dbname=postgres', 'SELECT 1')",
    "SELECT * FROM dblink('dbname=postgres user=postgres', 'SELECT 1') AS x(n int)",
    'SELECT 1; DROP TABLE public.victim',
    'CREATE TABLE stolen AS SELECT * FROM dead_letters',
    'SELECT * INTO stolen FROM dead_letters',
    'SET ROLE postgres',
    "SELECT set_config('role', 'postgres', false)",
    "SELECT set_config('session_authorization', 'postgres', false)",
    'WITH x AS (DELETE FROM dead_letters RETURNING *) SELECT count(*) FROM x',
    'WITH x AS (INSERT INTO public.victim VALUES (1) RETURNING *) SELECT * FROM x',
    'SELECT body FROM missive.dead_letters',
    'TABLE missive.dead_letters',
    'SELECT body FROM missive_revealed.dead_letters',
    'SELECT * FROM missive.sql_roles',
    'SELECT * FROM public.victim',
    'SELECT * FROM dead_letters FOR UPDATE',
    'DROP TABLE public.victim',
    'EXPLAIN ANALYZE DELETE FROM dead_letters',
  ];
  for (const query of escapes) {
    const result = await dlqCli(['sql', query, '--dlq', url]);
    t.not(result.code, 0, `refused: ${query}`);
    t.notMatch(result.stdout, /4111|root:/, `nothing leaked: ${query}`);
  }
  t.equal(await count(name), 2, 'the letters are all there');
  const victim = await adminQuery("SELECT to_regclass('public.victim') AS t", [], name);
  t.equal(victim.rows[0].t, 'victim', 'the other table is untouched');
  const timeout = await dlqCli(['sql', 'SELECT pg_sleep(0) AS slept', '--dlq', url]);
  t.equal(timeout.code, 0, 'an ordinary function still runs');
});

/** `n` lines of failing messages, distinct across `tag`s. */
function failingLines(tag, n) {
  return Array.from({ length: n }, (_, i) => `${tag}-${i}`).join('\n') + '\n';
}

t.test(
  'five runs write one database at once: every letter stored once, the same message once with both attempts',
  need(),
  async (t) => {
    const { url, name } = await testDatabase(t);
    const dir = t.testdir();
    const shared = join(dir, 'shared.txt');
    writeFileSync(shared, failingLines('shared', 300));
    const inputs = ['a', 'b', 'c'].map((tag) => {
      const input = join(dir, `${tag}.txt`);
      writeFileSync(input, failingLines(tag, 400));
      return input;
    });
    // Three runs with files of their own, and two more on one file: the same messages failing in two processes at
    // once, whose upserts meet on the same keys.
    const runs = [...inputs, shared, shared].map((input) =>
      runCli([
        'run',
        fixture('always-fails-processor.js'),
        '--input',
        input,
        '--dlq',
        url,
        '--threads',
        '0',
        '--quiet',
        '--batch-size',
        '50',
      ]),
    );
    for (const result of await Promise.all(runs)) t.equal(result.code, 0, { stderr: result.stderr.slice(-2000) });
    const rows = await stored(name);
    t.equal(rows.length, 1500, 'every letter once');
    const sharedRows = rows.filter(([id]) => id.startsWith(shared));
    t.equal(sharedRows.length, 300, 'the shared messages are one letter each');
    t.ok(
      sharedRows.every(([, attempts]) => attempts === 2),
      'each with attempts 2: both failures counted',
    );
    t.ok(
      rows.filter(([id]) => !id.startsWith(shared)).every(([, attempts]) => attempts === 1),
      'the others counted once',
    );
  },
);

t.test('connections cut mid-run: every letter still stored once', need(), async (t) => {
  const { url, name } = await testDatabase(t);
  const started = startCli(
    ['run', fixture('always-fails-processor.js'), '--dlq', url, '--threads', '0', '--batch-size', '20'],
    {
      keepStdinOpen: true,
    },
  );
  await waitForOutput(started, /running/);
  let cut = 0;
  for (let chunk = 0; chunk < 10; chunk++) {
    started.child.stdin.write(failingLines(`chunk${chunk}`, 100));
    cut += await cutConnections(name);
    await until(async () => (await count(name)) >= (chunk + 1) * 100, `letters of chunk ${chunk}`);
  }
  t.ok(cut > 0, `connections were cut (${cut})`);
  started.child.stdin.end();
  const result = await started.done;
  t.equal(result.code, 0, { stderr: result.stderr });
  const rows = await stored(name);
  t.equal(rows.length, 1000, 'every letter once');
  t.ok(
    rows.every(([, attempts]) => attempts === 1),
    'none counted twice',
  );
});

t.test(
  'the database gone mid-run: nothing acked meanwhile, the writes retried, nothing lost or doubled',
  need(),
  async (t) => {
    const { url, name } = await testDatabase(t);
    const gate = await relay(url);
    t.teardown(() => gate.close());
    const started = startCli(
      [
        'run',
        fixture('always-fails-processor.js'),
        '--dlq',
        gate.url,
        '--threads',
        '0',
        '--batch-size',
        '10',
        '--max-in-flight',
        '50',
      ],
      { keepStdinOpen: true },
    );
    await waitForOutput(started, /running/);
    started.child.stdin.write(failingLines('before', 100));
    await until(async () => (await count(name)) === 100, 'the first letters');
    await gate.cut();
    started.child.stdin.write(failingLines('during', 200));
    await waitForOutput(started, /dead-letter store unreachable; retrying/);
    t.equal(await count(name), 100, 'nothing stored while the database is away');
    await gate.restore();
    await until(async () => (await count(name)) === 300, 'the letters written once the database is back');
    t.match(started.output().stderr, /dead-letter store reachable again/);
    started.child.stdin.end();
    const result = await started.done;
    t.equal(result.code, 0, { stderr: result.stderr });
    t.match(result.stderr, /300 received · 0 acked · 0 nacked · 300 dead letters/);
    const rows = await stored(name);
    t.equal(rows.length, 300, 'every letter once');
    t.ok(
      rows.every(([, attempts]) => attempts === 1),
      'none counted twice',
    );
  },
);

t.test('missive dlq serve shows, reveals and purges letters of a PostgreSQL store', need(), async (t) => {
  const { url } = await testDatabase(t);
  const dlq = await PostgresDlq.open(url);
  await dlq.put(sampleLetters());
  await dlq.close();
  // A password in the URL is never shown: not in the line serve prints, not on the page.
  const withPassword = new URL(url);
  withPassword.password = 'not-needed-by-trust-auth';
  const { base, token, started } = await startServe(t, withPassword.href);
  t.notMatch(started.output().stdout, /not-needed/, 'the printed line masks the password');
  const config = await call(base, '/api/config');
  t.notMatch(config.text, /not-needed/, 'the page does too');
  t.match(config.json.file, /:\*\*\*@/);
  const view = await call(base, '/api/view?window=hour&reason=handler*');
  t.equal(view.status, 200, view.text);
  t.equal(view.json.total, 4, 'the filter counts in PostgreSQL');
  t.same(view.json.byReason, [{ value: 'handler failed', n: 4 }]);
  t.equal(
    view.json.chart.rows.reduce((sum, row) => sum + row.n, 0),
    4,
    'the chart counts every letter of the hour',
  );
  const card = view.json.page.rows.find((row) => row.id === 'payments:1');
  t.same([card.confidential, card.preview], [true, null], 'no preview of a confidential body');
  t.notMatch(view.text, /4111|Ada/, 'nothing confidential in the view');
  t.equal(view.json.page.rows.find((row) => row.id === 'orders:2').preview, '{"order":2}');
  const texts = await call(base, '/api/view?text=STOCK');
  t.equal(texts.json.total, 2, 'the error text filter');
  const revealed = await call(base, `/api/letter?key=${card.key}&reveal=1`, { token });
  t.match(revealed.text, /4111/, 'revealed with the token');
  const purged = await call(base, '/api/purge', {
    method: 'POST',
    body: { filter: { reason: 'no matching handler' } },
    token,
  });
  t.same(purged.json, { purged: 2 });
  t.equal((await call(base, '/api/view')).json.total, 4);
});

t.test(
  'a store user that may not create roles: dlq sql still reads, read-only, and says what it lacks',
  need(),
  async (t) => {
    const { url, name } = await testDatabase(t);
    const user = `${name}_owner`;
    await adminQuery(`CREATE ROLE ${user} LOGIN NOCREATEROLE`);
    // The database it owns goes first (the same drop as testDatabase's, which then finds nothing to drop).
    t.teardown(async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await adminQuery(`DROP ROLE IF EXISTS ${user}`);
    });
    await adminQuery(`ALTER DATABASE ${name} OWNER TO ${user}`);
    await adminQuery(`GRANT CREATE ON SCHEMA public TO ${user}`, [], name);
    const owned = new URL(url);
    owned.username = user;
    const input = mixedInput(t.testdir());
    const run = await runCli([
      'run',
      fixture('mixed-processor.js'),
      '--input',
      input,
      '--dlq',
      owned.href,
      '--threads',
      '0',
      '--quiet',
    ]);
    t.equal(run.code, 0, { stderr: run.stderr.slice(-2000) });
    const sql = await dlqCli(['sql', 'SELECT count(*) AS n FROM dead_letters', '--dlq', owned.href, '--json']);
    t.equal(sql.code, 0, { stderr: sql.stderr });
    t.same(JSON.parse(sql.stdout), [{ n: '5' }]);
    t.match(sql.stderr, /may not create roles/, 'it says the sandbox is weaker');
    for (const query of [
      'WITH x AS (DELETE FROM dead_letters RETURNING *) SELECT count(*) FROM x',
      'SELECT 1; DELETE FROM missive.dead_letters',
      "SELECT pg_read_file('/etc/passwd')",
    ]) {
      const result = await dlqCli(['sql', query, '--dlq', owned.href]);
      t.not(result.code, 0, `refused: ${query}`);
    }
    t.equal(await count(name), 5, 'nothing deleted');
  },
);

t.test(
  'stores opened at the same moment on a new database all open (schema and roles set up once)',
  need(),
  async (t) => {
    const { url } = await testDatabase(t);
    for (let round = 0; round < 3; round++) {
      const opened = await Promise.allSettled(Array.from({ length: 8 }, () => PostgresDlq.open(url)));
      const failed = opened.filter((result) => result.status === 'rejected').map((result) => result.reason.message);
      t.same(failed, [], `round ${round}: all 8 opened`);
      await Promise.all(opened.filter((result) => result.status === 'fulfilled').map((result) => result.value.close()));
    }
  },
);

t.test(
  'a letter with NUL characters (an error quoting a binary body) is stored, under its own key',
  need(),
  async (t) => {
    const { url } = await testDatabase(t);
    const dlq = await PostgresDlq.open(url);
    t.teardown(() => dlq.close());
    const body = Buffer.from([0x00, 0x01, 0xff]);
    await dlq.put([
      {
        id: 'm\0' + '1',
        body,
        reason: 'handler failed',
        error: 'Error: refused \0\x01',
        headers: { raw: 'a\0b', path: 'C:\\u0000' },
      },
    ]);
    await dlq.put([{ id: 'm\0' + '1', body, reason: 'handler failed' }]);
    const [letter, ...rest] = await dlq.list();
    t.equal(rest.length, 0, 'one letter: the same message again found its key');
    t.equal(letter.attempts, 2);
    t.same(letter.body, body, 'the body is bytes, kept exactly');
    t.equal(letter.id, 'm\uFFFD1');
    t.same((await dlq.findById('m\uFFFD1')).length, 1);
    await dlq.put([{ id: 'n', body, reason: 'x', headers: { raw: 'a\0b', path: 'C:\\u0000' } }]);
    t.same(
      (await dlq.findById('n'))[0].headers,
      { raw: 'a\uFFFDb', path: 'C:\\u0000' },
      'a NUL in headers too; an escaped backslash is left alone',
    );
  },
);
