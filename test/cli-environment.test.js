// Every flag can come from MISSIVE_<FLAG>: through the real CLI, with real child processes, files and an HTTP
// sender; secrets given that way are not on the command line (what `ps` shows, /proc/<pid>/cmdline).
import t from 'tap';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, readStats, runCli, startCli, waitForOutput } from './helpers/cli.js';

t.test('run takes its flags from the environment; the command line wins', async (t) => {
  const dir = t.testdir();
  const [a, b] = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
  writeFileSync(a, '{"n":1}\n{"n":2}\n');
  writeFileSync(b, '{"n":3}\n');
  const record = join(dir, 'handled.txt');
  const fromEnv = join(dir, 'env-stats.json');
  const env = {
    RECORD_FILE: record,
    MISSIVE_INPUT: `${a},${b}`,
    MISSIVE_THREADS: '0',
    MISSIVE_QUIET: 'true',
    MISSIVE_DLQ: join(dir, 'dead.duckdb'),
    MISSIVE_STATS_FILE: fromEnv,
    // Variables of adapters other than the one running are left alone, not taken for misplaced flags.
    MISSIVE_REDIS_URL: 'redis://127.0.0.1:1',
    MISSIVE_QUEUE: 'orders',
  };
  const first = await runCli(['run', fixture('record-processor.js')], { env });
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stdout, '', 'MISSIVE_QUIET=true: no summary');
  t.same(
    readFileSync(record, 'utf8').trim().split('\n').sort(),
    ['{"n":1}', '{"n":2}', '{"n":3}'],
    'both MISSIVE_INPUT files were read',
  );
  t.equal(readStats(fromEnv).acked, 3, 'the stats file named by MISSIVE_STATS_FILE');

  const fromFlag = join(dir, 'flag-stats.json');
  const second = await runCli(['run', fixture('record-processor.js'), '--input', b, '--stats-file', fromFlag], {
    env: { ...env, MISSIVE_STATS_FILE: join(dir, 'not-this.json') },
  });
  t.equal(second.code, 0, second.stderr);
  t.equal(readStats(fromFlag).acked, 1, '--input and --stats-file on the command line win over their variables');
  t.notOk(existsSync(join(dir, 'not-this.json')));
});

t.test('a bad value from a variable is a usage error that names the variable', async (t) => {
  const bad = await runCli(['run', fixture('record-processor.js')], { env: { MISSIVE_QUIET: 'maybe' }, input: '' });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /MISSIVE_QUIET sets the switch --quiet: give true or false, got 'maybe'/);
  const threads = await runCli(['run', fixture('record-processor.js')], {
    env: { MISSIVE_THREADS: 'lots' },
    input: '',
  });
  t.equal(threads.code, 2, 'validated like the flag');
  t.match(threads.stderr, /--threads/);
  const help = await runCli(['run', '--help']);
  t.match(help.stdout, /MISSIVE_SECRET/, '--help states the rule');
  const dlqHelp = await runCli(['dlq', 'count', '--help']);
  t.match(dlqHelp.stdout, /MISSIVE_REDIS_URL/);
});

t.test('dlq commands read MISSIVE_DLQ', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'dead.duckdb');
  const run = await runCli(['run', fixture('record-processor.js'), '--adapter', 'stdin', '--threads', '0', '--quiet'], {
    env: { RECORD_FILE: join(dir, 'r.txt'), MISSIVE_DLQ: path, MISSIVE_MAX_MESSAGE_BYTES: '8' },
    input: '{"too":"long for eight bytes"}\n{"n":1}\n',
  });
  t.equal(run.code, 0, run.stderr);
  const count = await runCli(['dlq', 'count'], { env: { MISSIVE_DLQ: path } });
  t.equal(count.code, 0, count.stderr);
  t.equal(count.stdout, '1\n', 'the letter MISSIVE_MAX_MESSAGE_BYTES made, in the file MISSIVE_DLQ names');
});

t.test('MISSIVE_SECRET signs webhooks without the secret on the command line', async (t) => {
  const dir = t.testdir();
  const secret = 'env-secret-7f3a';
  const started = startCli(
    ['run', fixture('record-processor.js'), '--adapter', 'http', '--port', '0', '--threads', '0'],
    {
      env: { RECORD_FILE: join(dir, 'r.txt'), MISSIVE_SECRET: secret, MISSIVE_DLQ: join(dir, 'dead.duckdb') },
      keepStdinOpen: true,
    },
  );
  t.teardown(() => started.child.kill('SIGKILL'));
  await waitForOutput(started, /listening on http:\/\/[^:]+:\d+/);
  const url = /listening on (http:\/\/[^:]+:\d+\/)/.exec(started.output().stdout + started.output().stderr)[1];
  const cmdline = readFileSync(`/proc/${started.child.pid}/cmdline`, 'utf8');
  t.notMatch(cmdline, new RegExp(secret), 'the secret is not in the command line others can read');
  const body = '{"n":1}';
  const signed = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'x-missive-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
  });
  t.equal(signed.status, 200, 'signed with the secret from the environment');
  const unsigned = await fetch(url, { method: 'POST', body });
  t.equal(unsigned.status, 401, 'unsigned is refused: the secret is in force');
  started.child.kill('SIGTERM');
  const done = await started.done;
  t.equal(done.code, 0, done.stderr);
  t.equal(readFileSync(join(dir, 'r.txt'), 'utf8'), `${body}\n`);
});
