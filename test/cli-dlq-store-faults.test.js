// A dead-letter store that cannot be written must be refused before any input is read, and a store that fails
// mid-run must leave every message it did not take named in unsettledIds: through the real CLI.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { CLI, fixture, readDeadLetters, readStats, runCli, startCli, waitForOutput } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const INPUT = '{"type":"ok"}\n{"type":"nobody"}\n{"type":"ok"}\n';

/** A store made and closed by missive itself, holding one letter. */
async function makeStore(path) {
  const dlq = await DuckDbDlq.open(path);
  await dlq.put([{ id: 'old', body: Buffer.from('{"type":"old"}'), reason: 'no matching handler' }]);
  await dlq.close();
}

/** `missive run` over INPUT on stdin with this --dlq; the run's stats file goes beside `dir`'s other files. */
function runOn(dlq, dir) {
  return runCli(
    ['run', fixture('mixed-processor.js'), '--dlq', dlq, '--threads', '0', '--stats-file', join(dir, 'stats.json')],
    { input: INPUT },
  );
}

t.test(
  'a --dlq that cannot be opened exits 2 at start, says what is wrong and what to do, and reads nothing',
  async (t) => {
    const dir = t.testdir({ 'notes.duckdb': 'my notes\n' });
    const truncated = join(dir, 'truncated.duckdb');
    await makeStore(truncated);
    truncateSync(truncated, 5000);
    // A DuckDB database of another program's, with a dead_letters table of its own.
    const foreign = join(dir, 'foreign.duckdb');
    const instance = await DuckDBInstance.create(foreign);
    const connection = await instance.connect();
    await connection.run('CREATE TABLE dead_letters (name VARCHAR, born DATE)');
    connection.closeSync();
    instance.closeSync();
    // What a SQLite database starts with: another program's file where a store was expected.
    const sqlite = join(dir, 'app.db');
    writeFileSync(sqlite, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080)]));
    const cases = [
      [sqlite, /app\.db: it is not a DuckDB database; choose another path \(the file is left alone\)/],
      [
        truncated,
        /cannot open the dead-letter file .*truncated\.duckdb: .*it is damaged \(cut short\?\) or not a DuckDB database .*choose another path \(--dlq\)/,
      ],
      [
        foreign,
        /foreign\.duckdb has a dead_letters table with other columns \(name, born\), so it was not made by missive-node; choose another file/,
      ],
      [join(dir, 'notes.duckdb'), /notes\.duckdb: it is not a DuckDB database; choose another path/],
      // Root may write anywhere the permissions say, yet nothing can be created in /proc.
      [
        '/proc/missive-test.duckdb',
        isRoot
          ? /cannot create the dead-letter file \/proc\/missive-test\.duckdb: .*; choose a path on a writable disk \(--dlq\)/
          : /\/proc .*not writable/,
      ],
    ];
    for (const [path, message] of cases) {
      const before = existsSync(path) ? readFileSync(path) : undefined;
      const result = await runOn(path, dir);
      t.equal(result.code, 2, `${path}: exit 2 (${result.stderr.slice(-300)})`);
      t.match(result.stderr, message, `${path}: the problem and the fix`);
      t.notMatch(result.stdout + result.stderr, /received|"msg":"running"/, `${path}: no input was read`);
      t.notOk(existsSync(join(dir, 'stats.json')), `${path}: refused before the run began`);
      if (before) t.same(readFileSync(path), before, `${path}: the file is left alone`);
    }
  },
);

t.test(
  'a --dlq that is a symbolic link opens the file it points to: letters land there, dlq reads them through the link',
  async (t) => {
    const dir = t.testdir();
    const target = join(dir, 'real.duckdb');
    await makeStore(target);
    const link = join(dir, 'link.duckdb');
    symlinkSync('real.duckdb', link);
    const result = await runOn(link, dir);
    t.equal(result.code, 0, result.stderr);
    t.equal(readStats(join(dir, 'stats.json')).deadLettered, 1);
    t.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    t.same(
      (await readDeadLetters(target)).map((l) => l.body.toString()).sort(),
      ['{"type":"nobody"}', '{"type":"old"}'],
      'the letter is in the target',
    );
    const count = await runCli(['dlq', 'count', '--dlq', link]);
    t.equal(count.stdout, '2\n', count.stderr);

    // A link to a file not there yet: the store is created where it points.
    const dangling = join(dir, 'to-new.duckdb');
    symlinkSync('new.duckdb', dangling);
    const fresh = await runOn(dangling, dir);
    t.equal(fresh.code, 0, fresh.stderr);
    t.equal((await readDeadLetters(join(dir, 'new.duckdb'))).length, 1, 'created at the target');
    t.ok(lstatSync(dangling).isSymbolicLink());
  },
);

t.test('a --dlq in a directory nobody may write exits 2 at start', async (t) => {
  // Not a t.testdir: its removal would come before the unmount, and fail on the mount point.
  const dir = mkdtempSync(join(tmpdir(), 'missive-locked-'));
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  if (isRoot) {
    // Root writes through permissions: a read-only mount is what stops it.
    const bind = spawnSync('mount', ['--bind', locked, locked]);
    if (bind.status !== 0)
      return t.skip(`cannot mount here (${String(bind.stderr).trim()}); as root, permissions stop nothing`);
    t.teardown(() => spawnSync('umount', [locked]));
    const ro = spawnSync('mount', ['-o', 'remount,bind,ro', locked]);
    if (ro.status !== 0) return t.skip(`cannot remount read-only (${String(ro.stderr).trim()})`);
  } else {
    chmodSync(locked, 0o555);
    t.teardown(() => chmodSync(locked, 0o755));
  }
  const result = await runOn(join(locked, 'd.duckdb'), dir);
  t.equal(result.code, 2, result.stderr);
  t.match(
    result.stderr,
    /cannot open the dead-letter file .*d\.duckdb: the directory .*locked is not writable; choose a writable path/,
  );
  t.notOk(existsSync(join(dir, 'stats.json')));
});

t.test(
  'a second run on the file a run holds exits 2 at start, naming that process; the first goes on',
  { skip: process.platform !== 'linux' && 'the holder is read from /proc/locks (Linux)' },
  async (t) => {
    const dir = t.testdir();
    const path = join(dir, 'shared.duckdb');
    const first = startCli(
      ['run', fixture('mixed-processor.js'), '--dlq', path, '--threads', '0', '--stats-file', join(dir, 'first.json')],
      { keepStdinOpen: true },
    );
    t.teardown(() => first.child.kill('SIGKILL'));
    await waitForOutput(first, /"msg":"running"/);
    t.ok(existsSync(path), 'the first run created the file at start, before any dead letter');
    const second = await runCli(
      ['run', fixture('mixed-processor.js'), '--dlq', path, '--threads', '0', '--stats-file', join(dir, 'second.json')],
      { input: INPUT },
    );
    t.equal(second.code, 2, second.stderr);
    t.match(
      second.stderr,
      new RegExp(
        `shared\\.duckdb is in use by a running processor \\(process ${first.child.pid}: see what it is with ps -o pid,args -p ${first.child.pid}\\); one file takes one writer: give each missive run a file of its own with --dlq`,
      ),
    );
    t.notOk(existsSync(join(dir, 'second.json')), 'the second read nothing');
    first.child.stdin.end(INPUT);
    const done = await first.done;
    t.equal(done.code, 0, done.stderr);
    const stats = readStats(join(dir, 'first.json'));
    t.same([stats.acked, stats.deadLettered], [2, 1], 'the first run was not disturbed');
    t.equal((await readDeadLetters(path)).length, 1);
  },
);

const prlimit = spawnSync('prlimit', ['--version']).status === 0;

/**
 * Runs a command without tap's process hook, which tap puts back into the environment of every child it spawns
 * (NODE_OPTIONS): the hook catches SIGXFSZ, which a write past the size cap raises, and kills the process with it,
 * where node on its own ignores that signal and sees the write fail.
 */
function spawnWithoutTapHook(command, args, options) {
  return spawn('sh', ['-c', 'unset NODE_OPTIONS; exec "$@"', 'sh', command, ...args], options);
}

t.test(
  'a store that fails mid-run (its disk allows no more): every message not stored is named in unsettledIds',
  { skip: !prlimit && 'needs prlimit (util-linux) to cap file sizes' },
  async (t) => {
    const dir = t.testdir();
    const pad = 'x'.repeat(64 * 1024);
    // Every fourth line is handled; the others are letters of 64 KiB, so the file-size cap is hit after a few dozen.
    const lines = Array.from({ length: 80 }, (_, i) =>
      i % 4 === 0 ? '{"type":"ok"}' : JSON.stringify({ type: 'nobody', n: i, pad }),
    );
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const path = join(dir, 'd.duckdb');
    const statsFile = join(dir, 'stats.json');
    // RLIMIT_FSIZE fails writes past 1.5 MB with EFBIG ("File too large"), as a full disk fails them with ENOSPC.
    const child = spawnWithoutTapHook(
      'prlimit',
      [
        '--fsize=1500000',
        process.execPath,
        CLI,
        'run',
        fixture('mixed-processor.js'),
        '--input',
        input,
        '--dlq',
        path,
        '--threads',
        '1',
        '--block-bytes',
        '140000',
        '--stats-file',
        statsFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const code = await new Promise((resolve) => child.on('close', resolve));
    t.equal(code, 3, 'exit 3: messages read and neither handled nor stored');
    t.match(stderr, /File too large/, 'the real cause is said');
    const stats = readStats(statsFile);
    const stored = new Set((await readDeadLetters(path)).map((letter) => letter.id));
    const badIds = lines.flatMap((line, i) => (line.includes('nobody') ? [`${input}:${i + 1}`] : []));
    const read = new Set(badIds.filter((id) => Number(id.slice(id.lastIndexOf(':') + 1)) <= stats.received));
    t.ok(
      stats.unsettled > 0 && stats.deadLettered > 0,
      `the store failed mid-run (${stats.deadLettered} stored, ${stats.unsettled} not)`,
    );
    t.equal(stats.received, stats.acked + stats.deadLettered + stats.unsettled, 'every message read is accounted for');
    t.equal(stats.deadLettered, stored.size, 'what was counted stored is in the file');
    t.equal(stats.unsettledIds.length, stats.unsettled, 'every unsettled message is named');
    t.same(
      [...stats.unsettledIds].sort(),
      [...read].filter((id) => !stored.has(id)).sort(),
      'the named ones are exactly the letters read and not stored',
    );
  },
);

t.test("a module's own store that opens at first use (new DuckDbDlq) is opened at start too", async (t) => {
  const dir = t.testdir();
  const run = (file) =>
    runCli(['run', fixture('duckdb-dlq-processor.js'), '--threads', '0', '--stats-file', join(dir, 'stats.json')], {
      input: INPUT,
      env: { DLQ_FILE: file },
    });
  const refused = await run('/proc/missive-module.duckdb');
  t.equal(refused.code, 2, refused.stderr);
  t.match(
    refused.stderr,
    isRoot ? /cannot create the dead-letter file \/proc\/missive-module\.duckdb/ : /\/proc .*not writable/,
  );
  t.notOk(existsSync(join(dir, 'stats.json')), 'nothing was read');
  const path = join(dir, 'own.duckdb');
  const ok = await run(path);
  t.equal(ok.code, 0, ok.stderr);
  t.same(
    (await readDeadLetters(path)).map((l) => l.body.toString()),
    ['{"type":"nobody"}'],
    "the letter is in the module's file",
  );
});
