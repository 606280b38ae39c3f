// --quiet is for scripts, and a processor's own version is the one logs and dead letters carry. Real CLI.
import t from 'tap';
import { join } from 'node:path';
import { fixture, readDeadLetters, runCli } from './helpers/cli.js';

const jsonLines = (stderr) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

t.test('--quiet: no info lines, no summary; warnings still come', async (t) => {
  const dir = t.testdir();
  const result = await runCli(
    ['run', fixture('versioned-processor.js'), '--threads', '0', '--quiet', '--dlq', join(dir, 'd.duckdb')],
    {
      input: 'ok\nnobody\n',
    },
  );
  t.equal(result.code, 0, result.stderr);
  const lines = jsonLines(result.stderr);
  t.same(
    lines.map((l) => l.msg),
    ['dead letter'],
    'only the warning',
  );
  t.notMatch(result.stderr, /received/, 'no summary');
  const loud = await runCli(
    [
      'run',
      fixture('versioned-processor.js'),
      '--threads',
      '0',
      '--quiet',
      '--log-level',
      'info',
      '--dlq',
      join(dir, 'd.duckdb'),
    ],
    { input: 'ok\n' },
  );
  t.ok(
    jsonLines(loud.stderr).some((l) => l.msg === 'running'),
    '--log-level wins over --quiet',
  );
});

t.test("the processor's version is in the log lines and the dead letters' fingerprint", async (t) => {
  const dir = t.testdir();
  const dlq = join(dir, 'd.duckdb');
  const result = await runCli(['run', fixture('versioned-processor.js'), '--threads', '1', '--dlq', dlq], {
    input: 'nobody\n',
  });
  t.equal(result.code, 0, result.stderr);
  t.ok(
    jsonLines(result.stderr).every((l) => l.version === '2.4.1'),
    'every log line',
  );
  const [letter] = await readDeadLetters(dlq);
  t.same(letter.fingerprint && [letter.fingerprint.name, letter.fingerprint.version], ['versioned', '2.4.1']);
});
