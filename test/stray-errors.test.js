// Errors from work a handler started and did not await never end the run, in either thread mode, and never print a
// confidential message's text: through the real CLI, real worker threads and a real DuckDB file.
import t from 'tap';
import { join } from 'node:path';
import { fixture, readDeadLetters, readStats, runCli, startCli, waitForOutput } from './helpers/cli.js';

const CARD = '4111 1111 1111 1111';
const lines = (types) => `${types.map((type, n) => JSON.stringify({ type, n })).join('\n')}\n`;
const logLines = (stderr) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));

for (const threads of ['0', '2']) {
  t.test(
    `--threads ${threads}: a dropped rejection or a throwing timer makes its running message a dead letter`,
    async (t) => {
      const dir = t.testdir();
      const stats = join(dir, 'stats.json');
      const dlq = join(dir, 'dead.duckdb');
      const types = ['ok', 'reject-running', 'ok', 'timer-running', 'secret-running', 'ok'];
      const result = await runCli(
        ['run', fixture('stray-errors-processor.js'), '--threads', threads, '--dlq', dlq, '--stats-file', stats],
        { input: lines(types) },
      );
      t.equal(result.code, 0, 'the run goes on and ends normally', { stderr: result.stderr.slice(-3000) });
      const figures = readStats(stats);
      t.same(
        [figures.received, figures.acked, figures.deadLettered, figures.unsettled, figures.unhandledErrors],
        [6, 3, 3, 0, 3],
        'exact figures: 3 handled, 3 dead letters, 3 unhandled errors',
      );
      t.same(figures.deadLetteredByReason, { 'unhandled error': 3 });
      const letters = await readDeadLetters(dlq);
      t.same(letters.map((l) => l.handler).sort(), ['rejectRunning', 'secretRunning', 'timerRunning']);
      const secret = letters.find((l) => l.handler === 'secretRunning');
      t.ok(secret.confidential, 'the confidential one is stored confidential');
      t.match(secret.error, new RegExp(CARD), 'the store keeps the whole error: nothing is lost');
      t.match(letters.find((l) => l.handler === 'rejectRunning').error, /could not save order 1/);

      t.notOk(result.stderr.includes(CARD) || result.stdout.includes(CARD), 'the card number is printed nowhere');
      const strays = logLines(result.stderr).filter((line) => /did not await/.test(line.msg ?? ''));
      t.equal(strays.length, 3, 'one error line each');
      const byHandler = Object.fromEntries(strays.map((line) => [line.handler, line]));
      t.match(byHandler.rejectRunning.error, /could not save order 1/, 'an ordinary error is logged with its text');
      t.match(
        byHandler.rejectRunning.msg,
        /handler rejectRunning started and did not await failed: its message is a dead letter/,
      );
      t.equal(byHandler.rejectRunning.id.endsWith(':2'), true, 'with the message id');
      t.equal(byHandler.secretRunning.error, '(error text withheld: confidential)');
      t.match(byHandler.timerRunning.error, /timer blew up/);
      t.match(result.stderr, /3 errors from work handlers did not await/, 'the summary counts them');
    },
  );
}

t.test('--threads 0: an error after the message was settled is logged and counted; the run survives', async (t) => {
  const dir = t.testdir();
  const stats = join(dir, 'stats.json');
  const result = await runCli(
    [
      'run',
      fixture('stray-errors-processor.js'),
      '--threads',
      '0',
      '--dlq',
      join(dir, 'dead.duckdb'),
      '--stats-file',
      stats,
    ],
    // The slow message after it keeps the run going until the timer has fired.
    { input: lines(['secret-after', 'plain-after', 'ok', 'reject-running']) },
  );
  t.equal(result.code, 0, 'no crash, rc 0', { stderr: result.stderr.slice(-3000) });
  t.notOk(result.stderr.includes(CARD), 'Node did not print the error with the card number');
  const figures = readStats(stats);
  t.same([figures.acked, figures.deadLettered, figures.unhandledErrors], [3, 1, 3]);
  const after = logLines(result.stderr).find((line) => line.handler === 'secretAfter');
  t.match(after.msg, /already settled, so the outcome stands/, 'an async handler: tied to its message');
  t.equal(after.error, '(error text withheld: confidential)');
  // A plain function runs without the async context that would tie it (it costs every call): caught and counted,
  // its text withheld as the processor has a confidential handler it might belong to.
  const untied = logLines(result.stderr).find((line) => /could not be tied to a message/.test(line.msg ?? ''));
  t.ok(untied, 'a plain function handler: logged, untied');
  t.equal(untied.error, '(error text withheld: confidential)');
});

for (const threads of ['0', '1']) {
  t.test(
    `--threads ${threads}: errors after their messages settled, in a task of their own, are logged and counted alike`,
    async (t) => {
      const dir = t.testdir();
      const stats = join(dir, 'stats.json');
      const started = startCli(
        [
          'run',
          fixture('stray-errors-processor.js'),
          '--threads',
          threads,
          '--dlq',
          join(dir, 'dead.duckdb'),
          '--stats-file',
          stats,
        ],
        { keepStdinOpen: true },
      );
      // Both handlers return at once and their timers throw 5 ms later, while the run waits for more input: a worker
      // whose event loop was parked between tasks never ran them, and nothing came after to wake it.
      started.child.stdin.write(lines(['secret-after', 'plain-after']));
      const logged = await waitForOutput(started, /did not await[^\n]*\n(.*\n)*.*did not await/, 30000).then(
        () => true,
        () => false,
      );
      t.ok(logged, 'both errors are logged while the run goes on');
      started.child.stdin.end(lines(['ok']));
      const result = await started.done;
      t.equal(result.code, 0, 'the run ends normally', { stderr: result.stderr.slice(-3000) });
      const figures = readStats(stats);
      t.same([figures.acked, figures.deadLettered, figures.unhandledErrors], [3, 0, 2], 'both counted');
      t.match(result.stderr, /2 errors from work handlers did not await/, 'the summary counts them');
      const strays = logLines(result.stderr).filter((line) => /did not await/.test(line.msg ?? ''));
      t.equal(strays.length, 2, 'one log line each');
      t.ok(
        strays.every((line) => line.level === 50 && line.processor === 'strays'),
        "in the run's own log, at level error",
      );
      const after = strays.find((line) => line.handler === 'secretAfter');
      t.match(after?.msg, /already settled, so the outcome stands/, 'an async handler: tied to its message');
      t.equal(after?.error, '(error text withheld: confidential)');
      t.ok(
        strays.some((line) => /could not be tied to a message/.test(line.msg)),
        'a plain function handler: untied',
      );
      t.notOk(result.stderr.includes(CARD), 'the card number is printed nowhere');
    },
  );
}

t.test('unrouted letters of a processor with a confidential handler are stored confidential', async (t) => {
  const dir = t.testdir();
  const dlq = join(dir, 'dead.duckdb');
  const result = await runCli(
    ['run', fixture('confidential-processor.js'), '--threads', '0', '--dlq', dlq, '--log-bodies'],
    {
      input: `{"kind":"unknown","pan":"${CARD}"}\n`,
    },
  );
  t.equal(result.code, 0, result.stderr);
  t.notOk(result.stderr.includes(CARD), '--log-bodies leaves it out: it may be a card message');
  const [letter] = await readDeadLetters(dlq);
  t.equal(letter.reason, 'no matching handler');
  t.equal(letter.confidential, true);
  const shown = await runCli(['dlq', 'show', letter.id, '--dlq', dlq]);
  t.notOk(shown.stdout.includes(CARD), 'dlq show masks it');
  t.match(shown.stdout, /headers \(confidential\)/, 'headers are masked with the body');
});

t.test('decode failures of a confidential message class are stored confidential', async (t) => {
  const dir = t.testdir();
  const dlq = join(dir, 'dead.duckdb');
  for (const threads of ['0', '1']) {
    const result = await runCli(['run', fixture('secret-class-processor.js'), '--threads', threads, '--dlq', dlq], {
      input: `{"pan": "${CARD}-${threads}", broken\n`,
    });
    t.equal(result.code, 0, result.stderr);
  }
  const letters = await readDeadLetters(dlq);
  t.equal(letters.length, 2);
  t.ok(
    letters.every((l) => l.reason === 'decode failed' && l.confidential === true),
    'both stored confidential',
  );
});
