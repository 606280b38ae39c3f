// `missive dlq sql` without --reveal shows confidential letters masked, whatever name or function the statement
// uses to reach the stored table: through the real CLI, on a file it opens itself and through the socket of a
// running processor that holds the file.
import t from 'tap';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { fixture, runCli, startCli } from './helpers/cli.js';
import { sleep } from './helpers/http-clients.js';

const SECRET = /4111|declined/;

// Every name and function a statement might use to reach the stored table past the masked one. DuckDB names a
// file's database after the file, so the store is named as users name theirs: missive-dlq.duckdb (the default)
// and f8.duckdb.
const ESCAPES = (db) => [
  `SELECT body, error FROM "${db}".main.dead_letters`,
  `SELECT body, error FROM "${db}".dead_letters`,
  `SELECT body, error FROM "${db}"."main"."dead_letters"`,
  `SELECT body, error FROM ${db.toUpperCase()}.MAIN.DEAD_LETTERS`,
  `SELECT * FROM (SELECT body, error FROM "${db}".main.dead_letters) AS t`,
  `WITH raw AS (FROM "${db}".dead_letters) SELECT body, error FROM raw`,
  `FROM "${db}".dead_letters`,
  `TABLE "${db}".main.dead_letters`,
  `VALUES ((SELECT string_agg(error, ',') FROM "${db}".main.dead_letters))`,
  `SELECT (SELECT string_agg(decode(body), ',') FROM "${db}".dead_letters) AS b`,
  `SELECT * FROM dead_letters UNION ALL SELECT * FROM "${db}".main.dead_letters`,
  `SUMMARIZE "${db}".main.dead_letters`,
  `SUMMARIZE SELECT body, error FROM "${db}".dead_letters`,
  `DESCRIBE SELECT error FROM "${db}".dead_letters`,
  `SELECT * FROM query_table('"${db}".main.dead_letters')`,
  `SELECT * FROM query_table(['"${db}".dead_letters'])`,
  `SELECT * FROM query('SELECT body, error FROM "${db}".dead_letters')`,
  `SELECT * FROM pragma_storage_info('"${db}".main.dead_letters')`,
  `PRAGMA storage_info('"${db}".dead_letters')`,
  `SELECT * FROM read_blob('${db}.duckdb')`,
  `SELECT * FROM read_text('${db}.duckdb')`,
  `SELECT * FROM read_csv('${db}.duckdb')`,
  `SELECT * FROM read_parquet('${db}.duckdb')`,
  `SELECT * FROM '${db}.duckdb'`,
  `ATTACH '${db}.duckdb' AS raw (READ_ONLY)`,
  `USE "${db}"`,
  `SET search_path = '"${db}".main'`,
  `COPY "${db}".dead_letters TO '/dev/stdout'`,
  'SELECT body, error, headers FROM dead_letters',
  'SELECT body, error, headers FROM main.dead_letters',
  'SELECT body, error, headers FROM memory.main.dead_letters',
  'SELECT body, error FROM temp.main.dead_letters',
  "SELECT max(body), max(error), max(headers::VARCHAR), string_agg(error, ',') FROM dead_letters",
  'SUMMARIZE dead_letters',
  "SELECT * FROM query('FROM dead_letters')",
  "SELECT * FROM pragma_storage_info('dead_letters')",
  'SELECT * FROM information_schema.tables',
  'SELECT * FROM information_schema.columns',
  'SELECT * FROM duckdb_tables()',
  'SELECT * FROM duckdb_views()',
  'SELECT * FROM duckdb_columns()',
  'SELECT * FROM duckdb_databases()',
  'SELECT * FROM temp.dead_letters_staging',
];

/** Runs `dlq sql` on every query, three at a time (each is a CLI start), and asserts nothing confidential shows. */
async function noSecretIn(t, queries, args, cwd) {
  const pending = [...queries];
  const worker = async () => {
    for (let query = pending.shift(); query !== undefined; query = pending.shift()) {
      const result = await runCli(['dlq', 'sql', query, '--json', ...args], { cwd });
      t.notMatch(result.stdout + result.stderr, SECRET, `nothing confidential: ${query}`, {
        stdout: result.stdout.slice(0, 300),
      });
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

t.test('no name reaches the stored body and error of a confidential letter without --reveal', async (t) => {
  const dir = t.testdir();
  const dlq = await DuckDbDlq.open(join(dir, 'missive-dlq.duckdb'));
  await dlq.put([
    {
      id: 'card-1',
      body: Buffer.from('{"card":"4111 1111 1111 1111"}'),
      reason: 'handler failed',
      error: 'Error: declined 4111 1111 1111 1111',
      headers: { 'x-card': '4111' },
      confidential: true,
    },
    {
      id: 'open-1',
      body: Buffer.from('{"type":"mystery"}'),
      reason: 'no matching handler',
      headers: { routingKey: 'orders' },
    },
  ]);
  await dlq.close();
  const revealed = await runCli(
    ['dlq', 'sql', 'SELECT error FROM "missive-dlq".main.dead_letters', '--json', '--reveal'],
    { cwd: dir },
  );
  t.match(revealed.stdout, SECRET, 'with --reveal, the stored table is there by its database name');
  // As the issue ran it: no --dlq, the default file in the working directory.
  await noSecretIn(t, ESCAPES('missive-dlq'), [], dir);
  renameSync(join(dir, 'missive-dlq.duckdb'), join(dir, 'f8.duckdb'));
  await noSecretIn(t, ESCAPES('f8').slice(0, 6), ['--dlq', 'f8.duckdb'], dir);
  const masked = await runCli(
    ['dlq', 'sql', 'SELECT id, body, error FROM dead_letters ORDER BY id', '--json', '--dlq', 'f8.duckdb'],
    { cwd: dir },
  );
  t.same(
    JSON.parse(masked.stdout).map((r) => [r.id, r.body === null, r.error === null]),
    [
      ['card-1', true, true],
      ['open-1', false, true],
    ],
    'the masked table has every letter, the confidential one without body and error',
  );
});

t.test('the same through the socket of a running processor that holds the store', async (t) => {
  const dir = t.testdir();
  const run = startCli(['run', fixture('confidential-processor.js'), '--threads', '0'], {
    cwd: dir,
    keepStdinOpen: true,
    input: '{"kind":"card","card":"4111 1111 1111 1111"}\n{"kind":"public","n":1}\n',
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  const count = async () => (await runCli(['dlq', 'count'], { cwd: dir })).stdout.trim();
  for (const deadline = Date.now() + 60_000; (await count()) !== '2'; await sleep(200)) {
    if (Date.now() > deadline)
      throw new Error(`the run stored no 2 letters within 60 s: ${JSON.stringify(run.output())}`);
  }
  const revealed = await runCli(
    ['dlq', 'sql', 'SELECT error FROM "missive-dlq".main.dead_letters', '--json', '--reveal'],
    { cwd: dir },
  );
  t.match(revealed.stdout, SECRET, 'the processor answers with --reveal');
  const escapes = ESCAPES('missive-dlq');
  await noSecretIn(t, [...escapes.slice(0, 4), ...escapes.slice(14, 17), ...escapes.slice(-3)], [], dir);
  run.child.stdin.end();
  t.equal((await run.done).code, 0, 'the run ends when its input does');
});
