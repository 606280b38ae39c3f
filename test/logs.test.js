// What reaches the logs: one line per failure with id, reason and handler; bodies only when asked, and never the
// body of a confidential message, not even inside an error message.
import t from 'tap';
import { join } from 'node:path';
import { fixture, readDeadLetters, runCli } from './helpers/cli.js';

const SECRET = '4111111111111111';

t.test('no body of a confidential message appears anywhere in the log output of a run that fails it', async (t) => {
  const dir = t.testdir();
  const dlqPath = join(dir, 'd.duckdb');
  const input = [
    JSON.stringify({ kind: 'card', pan: SECRET }),
    JSON.stringify({ kind: 'card', pan: SECRET, ackFirst: true }),
    JSON.stringify({ kind: 'public', note: 'visible-marker' }),
  ].join('\n');
  for (const threads of ['0', '2']) {
    const result = await runCli(
      [
        'run',
        fixture('confidential-processor.js'),
        '--threads',
        threads,
        '--dlq',
        dlqPath,
        '--log-bodies',
        '--log-level',
        'debug',
      ],
      { input },
    );
    t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
    const output = result.stdout + result.stderr;
    t.notOk(output.includes(SECRET), `threads ${threads}: the card number is nowhere in the output`);
    t.ok(output.includes('visible-marker'), `threads ${threads}: --log-bodies does log a non-confidential body`);
    const lines = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const failures = lines.filter((l) => l.msg === 'dead letter');
    t.equal(failures.length, 2, 'one line per failure');
    const card = failures.find((l) => l.handler === 'charge');
    t.equal(card.reason, 'handler failed');
    t.ok(card.id && card.confidential === true, 'the line says it withheld details');
    t.equal(card.body, undefined);
    t.equal(card.error, undefined);
    t.match(failures.find((l) => l.handler === 'publish').error, /public failure/);
  }
  const letters = await readDeadLetters(dlqPath);
  const stored = letters.find((l) => l.handler === 'charge');
  t.ok(stored.confidential, 'the store marks it confidential, for dlq show');
  t.ok(stored.body.toString().includes(SECRET), 'the store keeps the body: nothing is lost');
});

t.test('a confidential message class keeps even undecodable bodies out of the logs', async (t) => {
  const dir = t.testdir();
  const result = await runCli(
    ['run', fixture('secret-class-processor.js'), '--threads', '0', '--dlq', join(dir, 'd.duckdb'), '--log-bodies'],
    { input: `{"ok": true}\n{"pan": "${SECRET}", broken\n` },
  );
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  t.notOk((result.stdout + result.stderr).includes(SECRET));
  t.match(result.stderr, /"reason":"decode failed"/);
});

t.test('without --log-bodies no body is logged at all', async (t) => {
  const dir = t.testdir();
  const result = await runCli(
    ['run', fixture('confidential-processor.js'), '--threads', '0', '--dlq', join(dir, 'd.duckdb')],
    {
      input: JSON.stringify({ kind: 'public', note: 'visible-marker' }),
    },
  );
  t.equal(result.code, 0);
  const line = JSON.parse(result.stderr.split('\n').find((l) => l.includes('"dead letter"')));
  t.equal(line.body, undefined);
  t.equal(line.processor, 'payments', 'lines carry the fingerprint');
  t.equal(typeof line.pid, 'number');
});
