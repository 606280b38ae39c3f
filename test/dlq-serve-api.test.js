// missive dlq serve over HTTP: the token rule (actions and revealing need it, in a header; reading needs it off
// loopback), filters that stay values in SQL, a processor writing to the file meanwhile, usage errors, and a
// store of 100,000 letters answered a page at a time.
import t from 'tap';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fixture, runCli, startCli } from './helpers/cli.js';
import { call, sampleLetters, startServe, writeLetters } from './fixtures/serve-helpers.js';
import { until } from './helpers/until.js';

const count = async (path) => Number((await runCli(['dlq', 'count', '--dlq', path])).stdout);

t.test('actions without the token change nothing; with it they do', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  await writeLetters(path, sampleLetters());
  const { base, token, url } = await startServe(t, path, ['--processor', fixture('serve-processor.js')]);
  t.match(
    url,
    /^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{20,}$/,
    'the printed URL carries a generated token in its fragment',
  );

  const everything = { filter: {} };
  const refused = [
    ['no token', await call(base, '/api/purge', { method: 'POST', body: everything })],
    ['a wrong token', await call(base, '/api/purge', { method: 'POST', body: everything, token: `${token}x` })],
    [
      'no token, from another origin',
      await call(base, '/api/purge', { method: 'POST', body: everything, headers: { origin: 'http://evil.example' } }),
    ],
    [
      'the token in the query, not the header',
      await call(base, `/api/purge?token=${token}`, { method: 'POST', body: everything }),
    ],
    ['a replay without the token', await call(base, '/api/replay', { method: 'POST', body: everything })],
  ];
  for (const [what, answer] of refused) t.equal(answer.status, 401, `${what}: 401`);
  const form = await call(base, '/api/purge', {
    method: 'POST',
    body: 'filter=',
    token,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  t.equal(form.status, 415, 'a form post (what another page can send without asking) is refused, token or not');
  t.equal(await count(path), 6, 'every letter is still there');

  const view = await call(base, '/api/view?window=hour');
  t.equal(view.status, 200, 'reading from this machine needs no token');
  const key = view.json.page.rows.find((row) => row.id === 'orders:4').key;
  const purged = await call(base, '/api/purge', { method: 'POST', body: { keys: [key] }, token });
  t.same([purged.status, purged.json], [200, { purged: 1 }], 'with the token, the purge runs');
  t.equal(await count(path), 5);
});

t.test(
  'reading: the token or loopback, and a loopback name (no DNS rebinding); revealing needs the token',
  async (t) => {
    const path = join(t.testdir(), 'dead.duckdb');
    await writeLetters(path, sampleLetters());
    const { base, token } = await startServe(t, path);
    const rebound = await call(base, '/api/view', { headers: { host: 'evil.example' } });
    t.equal(rebound.status, 401, 'a request to another host name is not read without the token');
    t.equal(
      (await call(base, '/api/view', { headers: { host: 'evil.example' }, token })).status,
      200,
      'with the token it is',
    );

    const view = await call(base, '/api/view');
    const row = view.json.page.rows.find((r) => r.id === 'payments:1');
    t.same([row.confidential, row.preview], [true, null], 'the table has no preview of a confidential body');
    t.notMatch(view.text, /4111|Ada/, 'nothing of it anywhere in the view');
    const masked = await call(base, `/api/letter?key=${row.key}`);
    t.equal(masked.json.masked, true);
    t.notOk(
      'bodyBase64' in masked.json || 'error' in masked.json || 'headers' in masked.json,
      'body, error and headers are left out',
    );
    t.equal(
      (await call(base, `/api/letter?key=${row.key}&reveal=1`)).status,
      401,
      'revealing without the token is refused',
    );
    const revealed = await call(base, `/api/letter?key=${row.key}&reveal=1`, { token });
    t.equal(Buffer.from(revealed.json.bodyBase64, 'base64').toString(), '{"card":"4111 1111 1111 1111"}');
    t.same(revealed.json.headers, { 'x-card-holder': 'Ada Lovelace' });
    t.match(revealed.json.error, /declined/);
    const hidden = await call(base, '/api/view?text=4111');
    t.equal(hidden.json.total, 0, 'searching error text never matches a masked error');
  },
);

t.test('listening beyond loopback, reading needs the token too', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  await writeLetters(path, sampleLetters());
  const { base, token } = await startServe(t, path, ['--host', '0.0.0.0']);
  const local = base.replace('0.0.0.0', '127.0.0.1');
  t.equal((await call(local, '/api/view')).status, 401);
  t.equal((await call(local, '/api/view', { token })).status, 200);
  t.equal((await call(local, '/')).status, 200, 'the page itself (no letters in it) loads, to ask for the token');
});

t.test('MISSIVE_TOKEN sets the token; the URL then carries none', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  await writeLetters(path, sampleLetters());
  const secret = 'a-token-of-my-own-0123456789';
  const { base, url, started } = await startServe(t, path, [], { env: { MISSIVE_TOKEN: secret } });
  t.notMatch(url, /#token/);
  t.notMatch(started.output().stdout + started.output().stderr, new RegExp(secret), 'the token is not printed');
  t.equal(
    (
      await call(base, '/api/purge', {
        method: 'POST',
        body: { filter: { reason: 'no matching handler' } },
        token: 'wrong-token-0123456789',
      })
    ).status,
    401,
  );
  const purged = await call(base, '/api/purge', {
    method: 'POST',
    body: { filter: { reason: 'no matching handler' } },
    token: secret,
  });
  t.same(purged.json, { purged: 2 });
});

t.test('filters reach SQL as values only', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const letters = sampleLetters();
  letters.push({
    id: "quote'1",
    body: Buffer.from('q'),
    reason: "it's broken",
    handler: "o'neil",
    source: 'x',
    error: "can't; DROP TABLE dead_letters; --",
  });
  await writeLetters(path, letters);
  const { base } = await startServe(t, path);
  const total = async (query) => (await call(base, `/api/view?${new URLSearchParams(query)}`)).json.total;
  t.equal(await total({ reason: "x' OR 1=1 --" }), 0, 'a quote in a filter does not end the literal');
  t.equal(await total({ reason: "it's broken" }), 1);
  t.equal(await total({ handler: "o'neil" }), 1);
  t.equal(await total({ text: 'DROP TABLE dead_letters; --' }), 1);
  t.equal(await total({ reason: 'handler*' }), 4, 'a reason ending in * is a prefix');
  t.equal(await total({ source: 'amqp:orders' }), 2);
  t.equal(await total({ text: 'OUT OF STOCK' }), 2, 'error text in any case');
  t.equal(await total({ since: new Date(Date.now() - 25 * 60_000).toISOString() }), 4);
  t.equal(await total({}), 7, 'nothing was dropped');
  const bad = await call(base, `/api/view?since=yesterday`);
  t.equal(bad.status, 400);
  t.match(bad.json.error, /ISO time/);
  t.equal((await call(base, '/api/view?window=year')).status, 400);
  t.equal((await call(base, '/api/letter?key=../../etc')).status, 400);
});

t.test('works while missive run writes to the same file: reads, replays and purges go through it', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const run = startCli(['run', fixture('always-fails-processor.js'), '--threads', '0', '--dlq', path], {
    keepStdinOpen: true,
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  run.child.stdin.write('a\nb\n{"fixed":true}\n');
  await until(
    async () => (await runCli(['dlq', 'count', '--dlq', path])).stdout.trim() === '3',
    'three letters from the run',
  );
  const { base, token } = await startServe(t, path, ['--processor', fixture('serve-processor.js')]);
  const total = async () => (await call(base, '/api/view')).json?.total;
  t.equal(await total(), 3);
  run.child.stdin.write('d\ne\n');
  await until(async () => (await total()) === 5, 'the page to see letters the run adds');
  const replayed = await call(base, '/api/replay', { method: 'POST', body: { filter: { text: 'refused' } }, token });
  t.same(
    replayed.json,
    { replayed: 5, handled: 1, failedAgain: 4, unsettled: 0 },
    'replayed through the running processor',
  );
  t.equal(await total(), 4);
  const purged = await call(base, '/api/purge', { method: 'POST', body: { filter: {} }, token });
  t.same(purged.json, { purged: 4 }, 'purged through the running processor');
  run.child.stdin.write('f\n');
  await until(async () => (await total()) === 1, 'the run to go on writing');
  run.child.stdin.end();
  t.equal((await run.done).code, 0, 'the run was not disturbed');
});

t.test('usage errors exit 2 before listening; a missing file exits 1', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  await writeLetters(path, sampleLetters());
  const cases = [
    [['--port', '70000'], /--port takes a port number/],
    [['--token', 'short'], /--token takes at least 16/],
    [['--processor', './nowhere.js'], /cannot find the processor module/],
    [['extra'], /takes no arguments/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(['dlq', 'serve', '--dlq', path, ...args]);
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message);
  }
  const taken = createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const busy = await runCli(['dlq', 'serve', '--dlq', path, '--port', String(taken.address().port)]);
  t.equal(busy.code, 2, 'a port that is taken');
  t.match(busy.stderr, /is taken: choose another with --port/);
  const missing = await runCli(['dlq', 'serve', '--dlq', join(t.testdir(), 'none.duckdb')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no dead-letter file/);
  const help = await runCli(['dlq', 'serve', '--help']);
  t.match(help.stdout, /--token VALUE/);
  t.match((await runCli(['dlq', '--help'])).stdout, /serve\s+serve a page/);
});

t.test('100,000 letters: the view is a page of rows and aggregates, not the store', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const now = Date.now();
  const reasons = [
    'handler failed',
    'no matching handler',
    'timeout after 500 ms',
    'nacked',
    'decode failed',
    'r5',
    'r6',
    'r7',
    'r8',
  ];
  const letters = Array.from({ length: 100_000 }, (_, i) => ({
    id: `big:${i + 1}`,
    body: Buffer.from(JSON.stringify({ i, padding: 'x'.repeat(200) })),
    reason: reasons[i % reasons.length],
    handler: `h${i % 5}`,
    source: 'file:big.jsonl',
    error: `Error: failure ${i}`,
    failedAt: new Date(now - (100_000 - i) * 30),
  }));
  await writeLetters(path, letters);
  const { base, token } = await startServe(t, path);
  const first = await call(base, '/api/view?window=hour&limit=50');
  t.same(
    first.json.page.rows.map((row) => row.id).slice(0, 3),
    ['big:1', 'big:2', 'big:3'],
    "in the store's order: line order here",
  );
  const view = await call(base, '/api/view?window=hour&offset=99950&limit=50');
  t.equal(view.status, 200);
  t.equal(view.json.total, 100_000);
  t.equal(view.json.page.rows.length, 50);
  t.equal(view.json.page.rows.at(-1).id, 'big:100000', 'the last page ends with the last letter');
  t.ok(view.text.length < 64 * 1024, `the answer is ${view.text.length} bytes, not the store's 20 MB`);
  t.equal(new Set(view.json.chart.rows.map((row) => row.reason)).size, 7, 'six reasons by name, the rest as one band');
  t.equal(
    view.json.chart.rows.reduce((n, row) => n + row.n, 0),
    100_000,
  );
  const purged = await call(base, '/api/purge', { method: 'POST', body: { filter: { reason: 'r8' } }, token });
  t.same(purged.json, { purged: 11_111 });
});
