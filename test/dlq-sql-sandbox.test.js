// `missive dlq sql` can neither write nor reach outside the store: every escape a user (or a pasted query) might
// try, through the real CLI against a real DuckDB file, and the masking of confidential letters.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { runCli } from './helpers/cli.js';

const sql = (query, path, ...flags) => runCli(['dlq', 'sql', query, '--dlq', path, ...flags]);
const digest = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function storeWith(t) {
  const dir = t.testdir();
  const path = join(dir, 'dead.duckdb');
  const dlq = await DuckDbDlq.open(path);
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
  return { dir, path };
}

t.test('queries read the table; confidential body, error and headers are NULL unless --reveal', async (t) => {
  const { path } = await storeWith(t);
  const masked = await sql('SELECT id, body, error, headers FROM dead_letters ORDER BY id', path, '--json');
  t.equal(masked.code, 0, masked.stderr);
  const rows = JSON.parse(masked.stdout);
  t.same(
    rows.map((r) => r.id),
    ['card-1', 'open-1'],
  );
  t.same([rows[0].body, rows[0].error, rows[0].headers], [null, null, null], 'the confidential letter is masked');
  t.not(rows[1].body, null, 'an ordinary letter keeps its body');
  t.notMatch(masked.stdout, /4111/);
  const schema = await sql('SELECT body FROM main.dead_letters', path, '--json');
  t.notMatch(schema.stdout, /4111/, 'main.dead_letters is the masked view too');
  const revealed = await sql("SELECT body, error FROM dead_letters WHERE id = 'card-1'", path, '--json', '--reveal');
  t.equal(revealed.code, 0, revealed.stderr);
  t.match(revealed.stdout, /4111 1111 1111 1111/, '--reveal shows it');
  const shape = await sql('DESCRIBE dead_letters', path);
  t.equal(shape.code, 0, 'DESCRIBE is a query');
  t.match(shape.stdout, /confidential/);
});

t.test('every way to write, run a second statement or reach outside the store is refused', async (t) => {
  const { dir, path } = await storeWith(t);
  const before = digest(path);
  const elsewhere = join(dir, 'elsewhere');
  const escapes = [
    [`COPY (SELECT 'x') TO '${path}'`, /COPY is refused/],
    [`SELECT 1; DELETE FROM dead_letters`, /2 statements: run them one at a time/],
    [`SELECT count(*) FROM dead_letters; COPY (SELECT 'x') TO '${elsewhere}'`, /2 statements/],
    [`EXPORT DATABASE '${elsewhere}'`, /refuse/],
    ['PRAGMA version', /PRAGMA is refused/],
    ['PRAGMA threads=1', /PRAGMA is refused/],
    ['SET enable_external_access = true', /SET is refused/],
    ["SELECT * FROM read_text('/etc/passwd')", /reaches outside it/],
    ["SELECT content FROM read_blob('/etc/hostname')", /reaches outside it/],
    ["SELECT * FROM glob('/etc/*')", /reaches outside it/],
    [`SELECT * FROM read_csv('${join(dir, 'x.csv')}')`, /reaches outside it/],
    [`ATTACH '${join(dir, 'other.duckdb')}' AS other`, /ATTACH is refused/],
    ['INSTALL httpfs', /INSTALL is refused/],
    ['LOAD httpfs', /LOAD is refused/],
    ['DELETE FROM dead_letters', /DELETE is refused/],
    ["UPDATE dead_letters SET reason = 'x'", /UPDATE is refused/],
    ['DROP TABLE dead_letters', /DROP is refused/],
    ['CREATE TABLE t AS SELECT 1', /CREATE is refused/],
    ['CHECKPOINT', /CHECKPOINT is refused/],
    ['EXPLAIN ANALYZE SELECT 1', /EXPLAIN is refused/],
    ['', /holds none/],
  ];
  writeFileSync(join(dir, 'x.csv'), 'a,b\n1,2\n');
  for (const [query, why] of escapes) {
    const result = await sql(query, path);
    t.equal(result.code, 2, `refused as a usage error: ${query}`, { stderr: result.stderr });
    t.match(result.stderr, why, `says why: ${query}`);
    t.equal(result.stdout, '', 'prints no rows');
  }
  t.equal(digest(path), before, 'the store file is byte for byte the same');
  t.notOk(existsSync(elsewhere), 'nothing was written outside the store');
  t.same(readdirSync(dir).sort(), ['dead.duckdb', 'x.csv'], 'no new files beside it');
  const count = await sql('SELECT count(*) AS n FROM dead_letters', path, '--json');
  t.same(JSON.parse(count.stdout), [{ n: '2' }], 'and the letters are all still there');
});
