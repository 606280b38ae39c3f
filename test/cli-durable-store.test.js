// missive run acks a message once its dead letter is stored, so it takes only stores that keep letters past the
// process: a module-set MemoryDlq is refused before any input is read, through the real CLI.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, readDeadLetters, runCli } from './helpers/cli.js';

t.test('a module that sets a MemoryDlq: exit 2 before reading, saying why and what to do', async (t) => {
  const dir = t.testdir();
  const record = join(dir, 'handled.txt');
  const result = await runCli(['run', fixture('memory-dlq-processor.js'), '--threads', '0'], {
    env: { RECORD_FILE: record },
    input: '{"n":1}\n{"n":2}\n',
  });
  t.equal(result.code, 2, result.stderr);
  t.match(result.stderr, /MemoryDlq keeps dead letters only until the process exits/);
  t.match(result.stderr, /Give --dlq FILE/);
  t.notOk(existsSync(record), 'no message was handled');
  t.notOk(existsSync(join(dir, 'missive-dlq.duckdb')));
});

t.test('--dlq FILE overrides the module store: the letters are in the file', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'dead.duckdb');
  const result = await runCli(['run', fixture('memory-dlq-processor.js'), '--threads', '0', '--dlq', path, '--quiet'], {
    env: { RECORD_FILE: join(dir, 'handled.txt') },
    input: '{"n":1}\n{"n":2}\n',
  });
  t.equal(result.code, 0, result.stderr);
  const letters = await readDeadLetters(path);
  t.equal(letters.length, 2);
  t.same(
    letters.map((l) => l.reason),
    ['handler failed', 'handler failed'],
  );
});
