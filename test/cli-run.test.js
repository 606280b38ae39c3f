// `missive run` as users run it: a child process, real files, a real DuckDB file, real signals.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, fixture, readDeadLetters, readStats, runCli, startCli, waitForOutput } from './helpers/cli.js';

t.test(
  '--stats-file times the main thread over the whole run and, apart, from the first message read to the last settled',
  async (t) => {
    const dir = t.testdir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ type: 'ok', n: i })).join('\n'));
    const statsPath = join(dir, 'stats.json');
    const result = await runCli([
      'run',
      fixture('mixed-processor.js'),
      '--input',
      input,
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
      '--threads',
      '2',
    ]);
    t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
    const stats = readStats(statsPath);
    const { inRun } = stats;
    t.ok(inRun, 'inRun is written');
    t.ok(
      inRun.seconds > 0 && inRun.seconds < stats.seconds,
      `the run's work (${inRun.seconds} s) is part of the run (${stats.seconds} s): worker start-up is left out`,
    );
    t.ok(
      inRun.mainThreadBusyMs >= 0 && inRun.mainThreadBusyMs <= stats.mainThreadBusyMs,
      'busy in run <= busy over the whole run',
    );
    if (process.platform === 'linux') {
      t.ok(stats.mainThreadCpuMs > 0 && inRun.mainThreadCpuMs > 0, 'CPU time, over the whole run and in run');
      t.ok(
        inRun.mainThreadCpuMs < stats.mainThreadCpuMs,
        'loading modules and starting workers cost CPU outside the run',
      );
      t.ok(
        inRun.mainThreadWaitMs >= 0 && inRun.mainThreadWaitMs <= stats.mainThreadWaitMs,
        'time waiting for a core, from the scheduler',
      );
    }
  },
);

t.test('every line of a mixed input ends acked or in the DuckDB file with the right reason', async (t) => {
  const dir = t.testdir();
  const lines = [];
  const expected = new Map(); // line number -> reason
  for (let i = 1; i <= 3000; i++) {
    const kind = i % 10;
    if (kind === 1) {
      lines.push(`{"type":"ok","n":${i}`); // malformed
      expected.set(i, 'decode failed');
    } else if (kind === 2) {
      lines.push(JSON.stringify({ type: 'unknown', n: i }));
      expected.set(i, 'no matching handler');
    } else if (kind === 3) {
      lines.push(JSON.stringify({ type: 'boom', n: i }));
      expected.set(i, 'handler failed');
    } else if (kind === 4) {
      lines.push(JSON.stringify({ type: 'ok', pad: 'x'.repeat(300), n: i }));
      expected.set(i, 'message too large');
    } else if (kind === 5) {
      lines.push(JSON.stringify({ type: 'nack', n: i }));
      expected.set(i, 'nacked');
    } else {
      lines.push(JSON.stringify({ type: 'ok', n: i }));
    }
  }
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, lines.join('\r\n') + '\r\n\r\n');
  const dlqPath = join(dir, 'dlq.duckdb');
  const statsPath = join(dir, 'stats.json');
  const result = await runCli([
    'run',
    fixture('mixed-processor.js'),
    '--input',
    input,
    '--dlq',
    dlqPath,
    '--stats-file',
    statsPath,
    '--threads',
    '2',
    '--batch-size',
    '64',
    '--max-message-bytes',
    '200',
  ]);
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const stats = readStats(statsPath);
  const letters = await readDeadLetters(dlqPath);
  t.equal(stats.received, 3000);
  t.equal(stats.deadLettered, expected.size);
  t.equal(stats.acked, 3000 - expected.size);
  t.equal(stats.acked + stats.deadLettered, stats.received, 'nothing lost');
  t.equal(letters.length, expected.size, 'one row per dead letter');
  const byLine = new Map(letters.map((l) => [Number(l.id.split(':')[1]), l]));
  let wrong = 0;
  for (const [line, reason] of expected) if (byLine.get(line)?.reason !== reason) wrong++;
  t.equal(wrong, 0, 'every dead letter has the reason of its line');
  const boom = letters.find((l) => l.reason === 'handler failed');
  t.match(boom.error, /Error: boom \d+/);
  t.equal(boom.handler, 'boom');
  t.equal(boom.source, `file:${input}`);
  t.same(stats.deadLetteredByReason, Object.fromEntries([...new Set(expected.values())].map((r) => [r, 300])));
  const malformed = letters.find((l) => l.reason === 'decode failed');
  t.equal(
    malformed.body.toString(),
    `{"type":"ok","n":${Number(malformed.id.split(':')[1])}`,
    'the bytes are kept as read',
  );
});

t.test('stdin and several files in one run, inline threads', async (t) => {
  const dir = t.testdir({ 'a.jsonl': '{"type":"ok"}\n{"type":"ok"}\n', 'b.jsonl': '{"type":"ok"}' });
  const statsPath = join(dir, 'stats.json');
  const result = await runCli(
    [
      'run',
      fixture('mixed-processor.js'),
      '--input',
      join(dir, 'a.jsonl'),
      '--input',
      '-',
      '--input',
      join(dir, 'b.jsonl'),
      '--threads',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
    ],
    { input: '{"type":"ok"}\n{"type":"nope"}\n' },
  );
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const stats = readStats(statsPath);
  t.equal(stats.received, 5);
  t.equal(stats.acked, 4);
  t.equal(stats.deadLettered, 1);
  t.match(result.stderr, /5 received · 4 acked · 0 nacked · 1 dead letters \(no matching handler: 1\)/, 'summary line');
  const [letter] = await readDeadLetters(join(dir, 'd.duckdb'));
  t.equal(letter.source, 'stdin');
});

t.test('SIGTERM in the middle of a slow run: exit 0, every message read is acked or stored', async (t) => {
  const dir = t.testdir();
  const lines = Array.from({ length: 20000 }, (_, i) => `m${i}`).join('\n');
  const statsPath = join(dir, 'stats.json');
  const run = startCli(
    [
      'run',
      fixture('slow-processor.js'),
      '--threads',
      '1',
      '--batch-size',
      '20',
      '--max-in-flight',
      '100',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
      '--log-level',
      'info',
    ],
    { input: lines, env: { SLOW_MS: '20' } },
  );
  // Once its signal handlers are in place, let it get going, then stop it.
  await waitForOutput(run, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  run.child.kill('SIGTERM');
  const result = await run.done;
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  t.match(result.stderr, /SIGTERM: stopping/);
  const stats = readStats(statsPath);
  t.ok(stats.received > 0 && stats.received < 20000, `stopped part-way (${stats.received} read)`);
  t.equal(stats.acked + stats.deadLettered, stats.received, 'acked + dead letters = messages read');
  t.equal(stats.unsettled, 0);
  // One worker settles about 20 messages per 20 ms; without the cap all 20,000 lines (two chunks) are read at once.
  t.ok(stats.received <= 2500, `the in-flight cap of 100 held reading back (${stats.received} read in 1.5 s)`);
});

t.test('a second signal exits at once and says how many were not settled', async (t) => {
  const dir = t.testdir();
  const run = startCli(
    [
      'run',
      fixture('slow-processor.js'),
      '--threads',
      '1',
      '--batch-size',
      '10',
      '--max-in-flight',
      '50',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--drain-timeout',
      '60000',
    ],
    { input: Array.from({ length: 1000 }, (_, i) => `m${i}`).join('\n'), env: { SLOW_MS: '2000' } },
  );
  await waitForOutput(run, /"msg":"running"/);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  run.child.kill('SIGINT');
  await waitForOutput(run, /SIGINT: stopping/);
  // Past the window in which a repeat counts as the same request (see the drain-timeout tests).
  await new Promise((resolve) => setTimeout(resolve, 400));
  run.child.kill('SIGINT');
  const result = await run.done;
  t.equal(result.code, 3, 'the status of lines read and not settled');
  t.match(result.stderr, /exiting at once on a second SIGINT; \d+ messages were not settled \(ids: /);
});

t.test('a handler that kills its worker costs exactly one dead letter; every other message is handled', async (t) => {
  const dir = t.testdir();
  const lines = Array.from({ length: 5000 }, (_, i) => (i === 2345 ? 'kill' : `ok-${i}`));
  const statsPath = join(dir, 'stats.json');
  const dlqPath = join(dir, 'd.duckdb');
  const result = await runCli(
    [
      'run',
      fixture('killer-processor.js'),
      '--threads',
      '2',
      '--batch-size',
      '500',
      '--dlq',
      dlqPath,
      '--stats-file',
      statsPath,
    ],
    { input: lines.join('\n') },
  );
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const stats = readStats(statsPath);
  t.equal(stats.received, 5000);
  t.equal(stats.acked, 4999);
  t.equal(stats.deadLettered, 1);
  const letters = await readDeadLetters(dlqPath);
  t.equal(letters.length, 1);
  t.equal(letters[0].body.toString(), 'kill');
  t.equal(letters[0].reason, 'worker exited');
  t.equal(letters[0].handler, 'killer');
});

t.test('processing hooks run once per worker thread, and afterProcessing at the end', async (t) => {
  const dir = t.testdir();
  const result = await runCli(
    ['run', fixture('hooks-processor.js'), '--threads', '2', '--batch-size', '10', '--dlq', join(dir, 'd.duckdb')],
    { input: Array.from({ length: 2000 }, (_, i) => `m${i}`).join('\n'), env: { HOOKS_DIR: dir } },
  );
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const events = readFileSync(join(dir, 'events'), 'utf8').trim().split('\n');
  const before = events.filter((e) => e.startsWith('before')).map((e) => e.split(' ')[1]);
  const after = events.filter((e) => e.startsWith('after')).map((e) => e.split(' ')[1]);
  t.ok(before.length >= 1 && before.length <= 2, 'at most one beforeProcessing per worker');
  t.equal(new Set(before).size, before.length, 'never twice in one thread');
  t.same([...after].sort(), [...before].sort(), 'afterProcessing in every thread that started');
  t.notOk(before.includes('0'), 'hooks ran in workers, not the main thread');
});

t.test('usage errors exit 2 with a clear message, before any input is read', async (t) => {
  const dir = t.testdir({ readonly: {} });
  const ok = fixture('mixed-processor.js');
  const cases = [
    [['run'], /run needs the processor module/],
    [['run', join(dir, 'missing.js')], /cannot find the processor module/],
    [['run', fixture('not-a-processor.js')], /has no Processor as its default export/],
    [['run', ok, '--bogus'], /Unknown option '--bogus'/],
    [['run', ok, '--threads', 'many'], /--threads takes a whole number/],
    [['run', ok, '--adapter', 'carrier-pigeon'], /--adapter takes one of/],
    [['run', ok, '--dlq', join(dir, 'no', 'such', 'dir', 'd.duckdb')], /d\.duckdb/],
    [
      ['run', ok, '--input', join(dir, 'absent.jsonl'), '--dlq', join(dir, 'x.duckdb')],
      /cannot read the input .*absent\.jsonl/,
    ],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, message] of cases) {
    // stdin stays open: a CLI that started reading would hang instead of exiting.
    const run = startCli(args, { keepStdinOpen: true, input: '{"type":"ok"}\n' });
    const result = await run.done;
    t.equal(result.code, 2, `${args.join(' ')} exits 2`);
    t.match(result.stderr, message, `${args.join(' ')} says what is wrong`);
  }
});

t.test('--help on run and on the command itself', async (t) => {
  const run = await runCli(['run', '--help']);
  t.equal(run.code, 0);
  t.match(run.stdout, /Usage: missive run <processor module>/);
  t.match(run.stdout, /--max-in-flight/);
  const top = await runCli(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /Commands:/);
});

t.test('the example runs through npm start as the README says', async (t) => {
  const dir = t.testdir();
  const statsPath = join(dir, 'stats.json');
  const result = await runCli([
    'run',
    'examples/orders/processor.js',
    '--input',
    'examples/orders/events.jsonl',
    '--dlq',
    join(dir, 'd.duckdb'),
    '--stats-file',
    statsPath,
  ]);
  t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
  const stats = readStats(statsPath);
  t.equal(stats.received, 2003);
  t.same(stats.deadLetteredByReason, { 'decode failed': 1, 'no matching handler': 1, 'handler failed': 1 });
});

t.test(
  'on a terminal, a progress line shows the rate, acked and dead letters',
  { skip: !hasScript() && 'script(1) is not installed' },
  async (t) => {
    const dir = t.testdir();
    const input = join(dir, 'in.txt');
    writeFileSync(input, Array.from({ length: 300 }, (_, i) => `m${i}`).join('\n'));
    const command = [
      process.execPath,
      CLI,
      'run',
      fixture('slow-processor.js'),
      '--input',
      input,
      '--threads',
      '0',
      '--batch-size',
      '5',
      '--dlq',
      join(dir, 'd.duckdb'),
    ]
      .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
      .join(' ');
    // script(1) gives the CLI a real terminal, so it draws the line it draws for a person.
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, SLOW_MS: '50' },
      encoding: 'utf8',
    });
    t.equal(result.status, 0, 'exits 0', { output: result.stdout.slice(-2000) });
    t.match(
      result.stdout,
      /\r\x1b\[K[\d,]+ msg\/s · acked [\d,]+ · dead letters 0 · in flight \d+/,
      'the progress line',
    );
    t.match(result.stdout, /300 received · 300 acked/, 'then the summary');
  },
);

function hasScript() {
  return spawnSync('script', ['--version']).status === 0;
}

t.test(
  'a run in the main thread that can never finish (a promise that never settles) says so and exits 1',
  async (t) => {
    // With worker threads the busy worker keeps the process alive, and a signal's drain timeout ends the run.
    const dir = t.testdir();
    const result = await runCli(
      ['run', fixture('never-settles-processor.js'), '--threads', '0', '--dlq', join(dir, 'd.duckdb')],
      {
        input: 'a\nb\n',
      },
    );
    t.equal(result.code, 1, 'exits 1, not as if it had finished', { stderr: result.stderr.slice(-2000) });
    t.match(result.stderr, /the run stalled: 2 messages in flight.*give it a timeout/, 'says why and what to do');
  },
);
