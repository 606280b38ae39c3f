// Files as users run them: ids that stay the same from run to run, and a file that shrinks while it is read.
// Through the real CLI with real files and a real DuckDB store.
import t from 'tap';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, readDeadLetters, readStats, startCli, runCli, waitForOutput } from './helpers/cli.js';

t.test('a file run twice: the same ids, so its failures update their letters instead of doubling them', async (t) => {
  const dir = t.testdir();
  const input = join(dir, 'events.jsonl');
  writeFileSync(input, '{"type":"ok"}\nnot json\n{"type":"mystery"}\n');
  const dlq = join(dir, 'dead.duckdb');
  for (let run = 1; run <= 2; run++) {
    const result = await runCli([
      'run',
      fixture('mixed-processor.js'),
      '--input',
      input,
      '--dlq',
      dlq,
      '--threads',
      '0',
      '--quiet',
    ]);
    t.equal(result.code, 0, result.stderr);
  }
  const letters = await readDeadLetters(dlq);
  t.same(letters.map((l) => l.id).sort(), [`${input}:2`, `${input}:3`], 'ids are <path>:<line>');
  t.same(
    letters.map((l) => l.attempts),
    [2, 2],
    'one letter each, failed twice',
  );
});

t.test(
  'a file truncated while it is read: a warning, and its torn last line is a dead letter "input truncated"',
  async (t) => {
    const dir = t.testdir();
    const input = join(dir, 'big.jsonl');
    const line = (n) => `{"n":${String(n).padStart(6, '0')},"pad":"xxxxxxxx"}\n`; // 30 bytes each
    const count = 20_000;
    writeFileSync(input, Array.from({ length: count }, (_, n) => line(n + 1)).join(''));
    const cutAt = 30 * 15_000 + 10; // in the middle of line 15001
    const stats = join(dir, 'stats.json');
    const dlq = join(dir, 'dead.duckdb');
    // Small blocks, one at a time, and slow handlers: the reader is far behind byte 450,010 when the file is cut.
    const run = startCli(
      [
        'run',
        fixture('slow-processor.js'),
        '--input',
        input,
        '--threads',
        '0',
        '--block-bytes',
        '4096',
        '--max-in-flight-blocks',
        '1',
        '--dlq',
        dlq,
        '--stats-file',
        stats,
      ],
      { env: { SLOW_MS: '5' } },
    );
    await waitForOutput(run, /"msg":"running"/);
    // Once reading has begun: a file cut before it is opened is simply shorter.
    await new Promise((resolve) => setTimeout(resolve, 150));
    truncateSync(input, cutAt);
    const result = await run.done;
    t.equal(result.code, 0, result.stderr.slice(-2000));
    t.match(result.stderr, /shrank from 600000 to 450010 bytes while it was read/);
    t.match(result.stderr, /line 15001 is cut short, stored as a dead letter \\"input truncated\\"/);
    const figures = readStats(stats);
    t.same(
      [figures.received, figures.acked, figures.deadLettered],
      [15_001, 15_000, 1],
      'every whole line handled, the torn one stored',
    );
    const [letter] = await readDeadLetters(dlq);
    t.equal(letter.reason, 'input truncated');
    t.equal(letter.id, `${input}:15001`);
    t.equal(letter.body.toString(), '{"n":01500', 'its first bytes kept');
  },
);

t.test('dlq list shows the letters of a file in line order: :2 before :10', async (t) => {
  const dir = t.testdir();
  const input = join(dir, 'many.jsonl');
  writeFileSync(input, Array.from({ length: 12 }, (_, n) => `{"type":"mystery","n":${n + 1}}`).join('\n'));
  const dlq = join(dir, 'dead.duckdb');
  const run = await runCli([
    'run',
    fixture('mixed-processor.js'),
    '--input',
    input,
    '--dlq',
    dlq,
    '--threads',
    '0',
    '--quiet',
  ]);
  t.equal(run.code, 0, run.stderr);
  const list = await runCli(['dlq', 'list', '--dlq', dlq, '--limit', '12', '--json']);
  t.equal(list.code, 0, list.stderr);
  const lines = JSON.parse(list.stdout).map((l) => Number(l.id.slice(l.id.lastIndexOf(':') + 1)));
  t.same(
    lines,
    [...lines].sort((a, b) => a - b),
    'ascending line numbers',
  );
  t.same(lines.slice(0, 3), [1, 2, 3], 'the first page starts with the first lines');
});
