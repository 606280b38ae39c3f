// Bytes from a message (or an error quoting it) must not drive the terminal of whoever looks at the dead letters:
// dlq show and dlq sql print control characters escaped. Through the real CLI against a real DuckDB file.
import t from 'tap';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { runCli } from './helpers/cli.js';

const ESC = '\x1b';
const hostile = `${ESC}]0;owned${'\x07'}${ESC}[2J${ESC}[31mred`;

t.test('show and sql escape control characters from bodies, errors, reasons and headers', async (t) => {
  const path = join(t.testdir(), 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([
    {
      id: 'evil-1',
      body: Buffer.from(`{"note":"${hostile}"}`),
      reason: 'handler failed',
      error: `Error: bad input ${hostile}\n    at handler (processor.js:1:1)`,
      source: `src${ESC}[1m`,
      headers: { 'x-note': hostile },
    },
  ]);
  await dlq.close();
  const show = await runCli(['dlq', 'show', 'evil-1', '--dlq', path]);
  t.equal(show.code, 0, show.stderr);
  t.notOk(show.stdout.includes(ESC), 'no raw escape byte in dlq show');
  t.notOk(show.stdout.includes('\x07'), 'no raw bell');
  t.match(show.stdout, /bad input \\x1b\]0;owned\\x07/, 'the error is shown escaped');
  t.match(show.stdout, /\n    at handler \(processor\.js:1:1\)/, 'the stack keeps its lines');
  for (const query of [
    'SELECT id, error, source, headers::VARCHAR AS h FROM dead_letters',
    'SELECT body FROM dead_letters',
  ]) {
    const sql = await runCli(['dlq', 'sql', query, '--dlq', path]);
    t.equal(sql.code, 0, sql.stderr);
    t.notOk(sql.stdout.includes(ESC), `no raw escape byte in dlq sql: ${query}`);
    t.match(sql.stdout, /\\x1b|\\u001b|\\x1B/, 'escaped instead');
  }
});
