// `missive dlq sql` and `dlq list` over a store of 150k letters: their tables are sized without passing every cell
// as an argument (Math.max(...cells) overflowed the call stack past about 120k rows).
import t from 'tap';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { runCli } from './helpers/cli.js';

const ROWS = 150_000;

t.test(`dlq sql and dlq list print ${ROWS} rows`, async (t) => {
  const path = join(t.testdir(), 'large.duckdb');
  await (await DuckDbDlq.open(path)).close(); // the table, as missive makes it
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  await connection.run(`INSERT INTO dead_letters
    SELECT md5(i::VARCHAR), 'm' || i, ('{"n":' || i || '}')::BLOB, 'no matching handler', NULL, NULL, 'stdin', NULL, 1,
      TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i), TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i),
      'big', 'host', 1, NULL, false
    FROM range(${ROWS}) AS r(i)`);
  connection.closeSync();
  instance.closeSync();

  const sql = await runCli([
    'dlq',
    'sql',
    'SELECT id, reason FROM dead_letters ORDER BY first_failed_at',
    '--dlq',
    path,
  ]);
  t.equal(sql.code, 0, sql.stderr.slice(0, 500));
  const sqlLines = sql.stdout.trimEnd().split('\n');
  t.equal(sqlLines.length, ROWS + 3, 'heading, rule, every row, and the count');
  t.equal(sqlLines.at(-1), `(${ROWS} rows)`);
  t.match(sqlLines[2], /^m0\s+no matching handler$/);

  const list = await runCli(['dlq', 'list', '--limit', String(ROWS), '--dlq', path]);
  t.equal(list.code, 0, list.stderr.slice(0, 500));
  const listLines = list.stdout.trimEnd().split('\n');
  t.equal(listLines.length, ROWS + 1, 'heading and every letter');
  t.match(listLines[1], /^m0\s+[0-9a-f]{32}\s+no matching handler\s+-\s+1\s+2026-01-01T00:00:00Z\s+\{"n":0\}$/);
});
