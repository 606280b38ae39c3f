// What a process loads decides its start-up: every worker thread imports the processor module, which imports this
// package, so the package's entry must not drag in the pipeline, Piscina, broker clients or DuckDB.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, fixture } from './helpers/cli.js';

const HEAVY = [/\/streams\/pipeline\.js$/, /\/piscina\//, /\/ioredis\//, /\/amqplib\//, /\/nats\//, /\/@duckdb\//];

/** Runs node with the load recorder preloaded; returns every module URL loaded, by any thread, in order. */
function loadsOf(args, dir) {
  const record = join(dir, `loads-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(record, '');
  const child = spawnSync(process.execPath, ['--import', fixture('record-loads.js'), ...args], {
    env: { ...process.env, RECORD_LOADS: record, RECORD_FILE: join(dir, 'handled.txt') },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`node ${args.join(' ')} exited ${child.status}: ${child.stderr}`);
  return readFileSync(record, 'utf8').split('\n').filter(Boolean);
}

t.test("importing 'missive-node' loads neither the pipeline nor any transport's client", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'missive-loads-'));
  const loads = loadsOf(['--input-type=module', '-e', "await import('missive-node')"], dir);
  t.ok(
    loads.some((url) => url.endsWith('/dist/index.js')),
    'the package entry was loaded',
  );
  for (const heavy of HEAVY)
    t.notOk(
      loads.some((url) => heavy.test(url)),
      `nothing matching ${heavy}`,
    );
});

t.test('a run loads the pipeline once, in the main thread, while each worker loads the processor', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'missive-loads-'));
  const input = join(dir, 'in.txt');
  writeFileSync(input, 'a\nb\nc\n');
  const loads = loadsOf(
    [
      CLI,
      'run',
      fixture('record-processor.js'),
      '--input',
      input,
      '--threads',
      '2',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--quiet',
    ],
    dir,
  );
  const count = (pattern) => loads.filter((url) => pattern.test(url)).length;
  t.equal(count(/\/record-processor\.js$/), 3, 'the processor: by the main thread and by each of the 2 workers');
  t.equal(count(/\/dist\/streams\/pipeline\.js$/), 1, 'the pipeline, by the main thread only');
  t.equal(count(/\/piscina\/dist\/esm-wrapper\.mjs$/), 1, "Piscina's module, by the main thread only");
});
