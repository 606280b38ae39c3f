// missive run --adapter ./module.js: a transport of the user's own, through the real CLI in a child process.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, readStats, runCli } from './helpers/cli.js';

t.test('runs a module adapter with its own flags, through the whole pipeline and its acks', async (t) => {
  const dir = t.testdir();
  const record = join(dir, 'handled.txt');
  const acks = join(dir, 'acks.txt');
  const stats = join(dir, 'stats.json');
  const result = await runCli(
    [
      'run',
      fixture('record-processor.js'),
      '--adapter',
      fixture('counter-adapter.js'),
      '--count',
      '4',
      '--prefix',
      'tick',
      '--threads',
      '1',
      '--stats-file',
      stats,
      '--dlq',
      join(dir, 'd.duckdb'),
    ],
    { env: { RECORD_FILE: record, ACK_FILE: acks } },
  );
  t.equal(result.code, 0, result.stderr);
  t.same(readFileSync(record, 'utf8').trim().split('\n').sort(), ['tick-1', 'tick-2', 'tick-3', 'tick-4']);
  t.same(readFileSync(acks, 'utf8').trim().split('\n').sort(), [
    'counter:1 handled',
    'counter:2 handled',
    'counter:3 handled',
    'counter:4 handled',
  ]);
  t.equal(readStats(stats).acked, 4);
});

t.test('--help with a module adapter shows its flags; its own usage errors come through', async (t) => {
  const help = await runCli(['run', '--adapter', fixture('counter-adapter.js'), '--help']);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /--adapter counter: counts to --count/);
  t.match(help.stdout, /--prefix VALUE\s+what each body starts with/);
  const missing = await runCli(['run', fixture('record-processor.js'), '--adapter', fixture('counter-adapter.js')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--prefix is required by --adapter counter/);
  const viaEnv = await runCli(['run', '--help'], { env: { MISSIVE_ADAPTER: fixture('counter-adapter.js') } });
  t.match(viaEnv.stdout, /--adapter counter/, 'MISSIVE_ADAPTER names the module too');
});

t.test('a module that is not an adapter spec, or is missing, or clashes: exit 2 saying what to export', async (t) => {
  const half = await runCli(['run', fixture('record-processor.js'), '--adapter', fixture('not-an-adapter.js')]);
  t.equal(half.code, 2);
  t.match(half.stderr, /default export lacks create \(a function\)/);
  const gone = await runCli(['run', fixture('record-processor.js'), '--adapter', './nowhere/adapter.js']);
  t.equal(gone.code, 2);
  t.match(gone.stderr, /cannot find the adapter module \.\/nowhere\/adapter\.js/);
  const clash = await runCli(['run', fixture('record-processor.js'), '--adapter', fixture('clashing-adapter.js')]);
  t.equal(clash.code, 2);
  t.match(clash.stderr, /declares --threads, a flag of missive run itself/);
  const typo = await runCli(['run', fixture('record-processor.js'), '--adapter', 'rabbit']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /or the path of a module of your own/);
});
