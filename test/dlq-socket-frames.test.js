// What a local client can send to the socket on which a running `missive run` answers for its dead-letter store:
// frames of any shape get error answers and never end the run; a frame too long, one connection too many and an
// idle connection are cut off, while the run goes on and still ends with its summary and stats file.
import t from 'tap';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { RemoteDlq } from '../dist/dlq/remote.js';
import { serveStore } from '../dist/dlq/socket-server.js';
import { fixture, readStats, runCli, startCli } from './helpers/cli.js';
import { privateTmp, socketIn } from './helpers/dlq-socket.js';
import { rawSocket, sleep } from './helpers/http-clients.js';
import { until } from './helpers/until.js';

const answers = (text) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

/** Connects and has one request answered, so the server has counted the connection. */
async function servedClient(socketPath) {
  const client = rawSocket(socketPath);
  await Promise.race([client.connected, client.closed]);
  client.write('{"n":0,"op":"count","args":{}}\n');
  await client.until(/\n/);
  return client;
}

t.test('a running missive run answers malformed, oversized and surplus frames and runs on', async (t) => {
  const tmp = privateTmp(t);
  const path = join(tmp, 'dead.duckdb');
  const statsPath = join(tmp, 'stats.json');
  const env = { TMPDIR: tmp };
  const run = startCli(
    ['run', fixture('always-fails-processor.js'), '--threads', '1', '--dlq', path, '--stats-file', statsPath],
    { keepStdinOpen: true, env },
  );
  t.teardown(() => run.child.kill('SIGKILL'));
  // The store, and with it the socket, opens at start; the first dead letter is then counted on it.
  run.child.stdin.write('first\n');
  await until(() => existsSync(path) && existsSync(socketIn(tmp, path)), 'the run to answer on its socket');
  const socketPath = socketIn(tmp, path);
  await until(async () => {
    const remote = await RemoteDlq.connect(socketPath, realpathSync(path));
    if (!remote) return false;
    try {
      return (await remote.count()) === 1;
    } finally {
      await remote.close();
    }
  }, 'the first dead letter to be stored');

  const bad = rawSocket(socketPath);
  await Promise.race([bad.connected, bad.closed]);
  const frames = [
    'null',
    '[]',
    '"x"',
    '{}',
    'not json',
    '{"n":1,"op":"nope"}',
    '{"n":2,"op":"put","args":{"letters":5}}',
    '{"n":3,"op":"count","args":null}',
    '{"n":4,"op":"list","args":{"options":"x"}}',
    '{"n":5,"op":"put","args":{"letters":[null]}}',
    '{"n":6,"op":"delete","args":{"keys":"k"}}',
    '{"n":7,"op":"count","args":{}}',
  ];
  bad.write(frames.map((frame) => `${frame}\n`).join(''));
  // Bounded, so that a server that leaves some frames unanswered fails the test instead of hanging it.
  const text = await Promise.race([bad.until(new RegExp(`(.*\\n){${frames.length}}`)), run.done, sleep(30000)]).then(
    () => bad.text(),
  );
  const got = answers(text);
  t.equal(got.length, frames.length, `one answer a frame: ${text}`);
  const byN = (n) => got.filter((answer) => answer.n === n);
  t.equal(byN(-1).length, 5, 'null, [], "x", {} and a line that is not JSON: an answer for no request each');
  t.ok(
    byN(-1).every((a) => a.error.code === 'MISSIVE_ERR_INVALID_OPTION'),
    'as invalid requests',
  );
  for (const n of [1, 2, 3, 4, 5, 6])
    t.match(byN(n), [{ error: { code: 'MISSIVE_ERR_INVALID_OPTION' } }], `request ${n} refused`);
  t.same(byN(7), [{ n: 7, result: 1 }], 'and a good request on the same connection answered');
  t.match(byN(1)?.[0]?.error.message, /unknown operation "nope"/);
  bad.destroy();
  if (run.child.exitCode !== null) return t.fail(`the run ended: ${run.output().stderr}`);

  // A frame that never ends: answered, and cut off long before the client is done sending.
  const long = rawSocket(socketPath);
  await Promise.race([long.connected, long.closed]);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const total = 64 * 1024 * 1024;
  let sent = 0;
  let closed = false;
  void long.closed.then(() => (closed = true));
  const deadline = Date.now() + 60000;
  while (!closed && sent < total && Date.now() < deadline) {
    sent += chunk.length;
    if (!long.write(chunk))
      await Promise.race([new Promise((resolve) => long.socket.once('drain', resolve)), long.closed]);
  }
  t.ok(closed && sent < total, `the connection was closed after ${sent} of ${total} bytes`);
  const cut = answers(await Promise.race([long.closed, sleep(1000).then(() => long.text())]));
  long.destroy();
  t.match(
    cut,
    [{ n: -1, error: { code: 'MISSIVE_ERR_DLQ', message: /request longer than \d+ bytes/ } }],
    'with a last answer saying why',
  );

  // 64 connections at once are served; the 65th is told and closed at once.
  const held = [];
  t.teardown(() => held.forEach((client) => client.destroy()));
  for (let i = 0; i < 64; i++) held.push(await servedClient(socketPath));
  const surplus = rawSocket(socketPath);
  const refused = answers(await Promise.race([surplus.closed, sleep(20000).then(() => surplus.text())]));
  surplus.destroy();
  t.match(
    refused,
    [{ n: -1, error: { message: /serves 64 connections at once/ } }],
    'one too many: refused with a reason',
  );
  held.splice(0).forEach((client) => client.destroy());
  await until(async () => {
    const client = rawSocket(socketPath);
    client.write('{"n":1,"op":"count","args":{}}\n');
    const text = await client.until(/\n/);
    client.destroy();
    return /"result":1/.test(text);
  }, 'a connection served again once the others closed');

  const count = await runCli(['dlq', 'count', '--dlq', path], { env });
  t.equal(count.code, 0, count.stderr);
  t.equal(count.stdout.trim(), '1', 'missive dlq count still reaches the run');

  run.child.stdin.write('second\n');
  run.child.stdin.end();
  const result = await run.done;
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /missive: 2 received · 0 acked · 0 nacked · 2 dead letters/, 'the run ends with its summary');
  t.equal(readStats(statsPath).deadLettered, 2, 'and its stats file');
  t.notOk(existsSync(socketPath), 'and takes its socket away');
});

t.test(
  'idle connections are closed; a client of its own keeps its connection alive and splits large puts',
  async (t) => {
    const tmp = privateTmp(t);
    const path = join(tmp, 'dead.duckdb');
    const store = await DuckDbDlq.open(path, { serve: false });
    t.teardown(() => store.close());
    const socketPath = socketIn(tmp, path);
    const server = await serveStore(store, socketPath, { idleMs: 300, maxRequestBytes: 64 * 1024 });
    t.teardown(() => server.close());

    const idle = rawSocket(socketPath);
    const started = Date.now();
    const last = answers(await Promise.race([idle.closed, sleep(20000).then(() => idle.text())]));
    t.match(last, [{ n: -1, error: { message: /closed after 300 ms without a request/ } }]);
    t.ok(Date.now() - started < 20000, 'closed by the server');

    const remote = await RemoteDlq.connect(socketPath, realpathSync(path));
    t.teardown(() => remote.close());
    await sleep(1500);
    t.equal(await remote.count(), 0, 'a RemoteDlq idle for five times the limit still works');
    const letters = Array.from({ length: 20 }, (_, i) => ({
      id: `l${i}`,
      reason: 'handler failed',
      body: Buffer.alloc(20000, i),
    }));
    await remote.put(letters);
    t.equal(await remote.count(), 20, '20 letters of 20 kB (540 kB in base64) put through a 64 KiB request limit');
    await t.rejects(
      remote.put([{ id: 'big', reason: 'handler failed', body: Buffer.alloc(100000) }]),
      { code: 'MISSIVE_ERR_DLQ', message: /takes \d+ bytes on the socket, more than the 65536 .* stop that process/ },
      'one letter larger than a request: refused with what to do',
    );
  },
);
