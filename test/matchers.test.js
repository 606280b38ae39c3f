// A matcher must answer true or false: an async one is refused when it is registered (exit 2 before any input),
// any other answer is a dead letter "matcher failed" that names the matcher and what it returned, in both the
// main thread and the workers. Through the real CLI.
import t from 'tap';
import { join } from 'node:path';
import { fixture, readDeadLetters, readStats, runCli } from './helpers/cli.js';
import { JsonMessage, Processor } from 'missive-node';

t.test('handleFor refuses an async matcher, saying why', async (t) => {
  const processor = new Processor(JsonMessage);
  t.throws(
    () =>
      processor.handleFor(
        async () => true,
        function paid() {},
      ),
    {
      code: 'MISSIVE_ERR_INVALID_OPTION',
      message: /matcher of paid is an async function, so it returns a Promise, which is always truthy/,
    },
  );
  const result = await runCli(['run', fixture('async-matcher-processor.js'), '--threads', '0'], {
    input: '{"type":"refund"}\n',
  });
  t.equal(result.code, 2, 'a usage error, before any input is read');
  t.match(result.stderr, /async function/);
});

for (const threads of ['0', '1']) {
  t.test(
    `--threads ${threads}: a Promise, undefined or a string from a matcher is a dead letter naming both`,
    async (t) => {
      const dir = t.testdir();
      const dlq = join(dir, 'dead.duckdb');
      const stats = join(dir, 'stats.json');
      const input = ['ok', 'promise', 'forgot', 'label']
        .map((type) => JSON.stringify({ type, label: 'gold' }))
        .join('\n');
      const result = await runCli(
        ['run', fixture('sloppy-matchers-processor.js'), '--threads', threads, '--dlq', dlq, '--stats-file', stats],
        { input },
      );
      t.equal(result.code, 0, result.stderr);
      t.same(readStats(stats).deadLetteredByReason, { 'matcher failed': 3 });
      const errors = (await readDeadLetters(dlq)).map((l) => l.error).sort();
      t.match(errors[0], /matcher of "byLabel" returned the string "gold", not true or false/);
      t.match(errors[1], /matcher of "forgot" returned undefined/);
      t.match(errors[2], /matcher of "viaPromise" returned a Promise/);
    },
  );
}
