// Every way a stdin run ends writes the summary and --stats-file, and names every line it read and did not settle:
// SIGHUP (a closed terminal) drains like SIGTERM, a later second signal and SIGQUIT stop at once, a stall fails.
// Real CLI, real signals, 5,000 piped lines.
import t from 'tap';
import { join } from 'node:path';
import { fixture, hasScript, readStats, runCli, startCli, startCliOnTerminal, waitForOutput } from './helpers/cli.js';
import { sleep } from './helpers/http-clients.js';

const LINES = 5000;

/** Lines numbered from 1; the first `fast` are handled at once, the others take SLOW_MS. */
function input(fast = 0) {
  let text = '';
  for (let n = 1; n <= LINES; n++) text += `${n <= fast ? 'fast' : 'slow'} ${n}\n`;
  return text;
}

/** Starts a stdin run that serves metrics, and resolves with a way to wait on its live counters. */
async function startRun(t, processor, args, { input, env }) {
  const dir = t.testdir();
  const statsPath = join(dir, 'stats.json');
  const run = startCli(
    [
      'run',
      fixture(processor),
      '--threads',
      '1',
      '--metrics-port',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
      ...args,
    ],
    { input, keepStdinOpen: true, env },
  );
  t.teardown(() => run.child.kill('SIGKILL'));
  return { run, statsPath, until: await countersOf(run) };
}

/**
 * Waits for a run's metrics server, and returns `until(what, check)`: resolves once `check` holds for the run's
 * live counters (received, acked, retries), within a generous bound for a loaded machine.
 */
async function countersOf(run) {
  await waitForOutput(run, /metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
  const { stdout, stderr } = run.output();
  const url = /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stdout + stderr)[1];
  const counter = (text, name) =>
    Number(new RegExp(`^missive_${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return async (what, check) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const text = await (await fetch(url)).text();
      const figures = {
        received: counter(text, 'messages_received_total'),
        acked: counter(text, 'messages_acked_total'),
        retries: counter(text, 'retries_total'),
      };
      if (check(figures)) return figures;
      if (Date.now() > deadline)
        throw new Error(
          `${what}: not within 60 s (${JSON.stringify(figures)}): ${JSON.stringify(run.output()).slice(-2000)}`,
        );
      await sleep(50);
    }
  };
}

/** The stats file once it is whole, else undefined. */
function written(path) {
  try {
    return readStats(path);
  } catch {
    return undefined;
  }
}

/** The line number in a stdin id (`<run prefix>:<line>`). */
const lineOf = (id) => Number(id.slice(id.lastIndexOf(':') + 1));

/** Every line read is acked, stored, or named once in unsettledIds. */
function accountsForEveryLine(t, stats) {
  t.equal(new Set(stats.unsettledIds).size, stats.unsettledIds.length, 'no line named twice');
  t.equal(stats.unsettledIds.length, stats.unsettled, 'every unsettled line is named, none left out');
  t.equal(
    stats.acked + stats.deadLettered + stats.unsettledIds.length,
    stats.received,
    'acked + dead letters + named = read',
  );
  t.ok(
    stats.unsettledIds.every((id) => lineOf(id) >= 1 && lineOf(id) <= stats.received),
    'the names are lines that were read',
  );
}

t.test('SIGHUP on a stdin run drains, writes the summary and the stats file, and exits 0', async (t) => {
  // 10 lines at a time of 20 ms, at most 200 read ahead: 5,000 lines take 10 s, so the signal comes mid-run.
  const { run, statsPath, until } = await startRun(
    t,
    'signals-processor.js',
    ['--batch-size', '10', '--max-in-flight', '200'],
    {
      input: input(0),
      env: { SLOW_MS: '20' },
    },
  );
  const before = await until('some lines handled', ({ acked }) => acked >= 100);
  run.child.kill('SIGHUP');
  const result = await run.done;
  t.equal(result.signal, null, 'not killed by the signal');
  t.equal(result.code, 0, 'drained: every line read was handled', { stderr: result.stderr.slice(-2000) });
  t.match(result.stderr, /SIGHUP: stopping/);
  const stats = readStats(statsPath);
  t.ok(stats.acked >= before.acked, `the lines handled before the signal count (${before.acked})`);
  t.ok(stats.received < LINES, `reading stopped at the signal (${stats.received} of ${LINES} read)`);
  t.equal(stats.unsettled, 0);
  accountsForEveryLine(t, stats);
  t.match(
    result.stderr,
    new RegExp(
      `missive: ${stats.received.toLocaleString('en-US')} received · ${stats.acked.toLocaleString('en-US')} acked`,
    ),
    'the summary',
  );
});

t.test(
  'closing the terminal a run reads (SIGHUP, then writes to it fail) drains and writes the stats file',
  { skip: !hasScript() && 'script(1) is not installed' },
  async (t) => {
    const dir = t.testdir();
    const statsPath = join(dir, 'stats.json');
    // Handlers of 2 s: still running when the terminal closes, and a drain must wait for them.
    const run = startCliOnTerminal(
      [
        'run',
        fixture('slow-processor.js'),
        '--threads',
        '0',
        '--metrics-port',
        '0',
        '--dlq',
        join(dir, 'd.duckdb'),
        '--stats-file',
        statsPath,
      ],
      { env: { SLOW_MS: '2000' } },
    );
    const until = await countersOf(run);
    run.child.stdin.write('a\nb\n'); // typed at the terminal
    await until('the typed lines read', ({ received }) => received === 2);
    run.child.kill('SIGKILL'); // script(1) dies: its terminal closes under the run
    await run.done;
    // The run is not this test's child: it is done when its stats file is.
    const deadline = Date.now() + 60_000;
    let stats;
    while (!(stats = written(statsPath))) {
      if (Date.now() > deadline) throw new Error('no stats file within 60 s of the terminal closing');
      await sleep(50);
    }
    t.same([stats.received, stats.acked, stats.unsettled], [2, 2, 0], 'the lines in flight were finished');
  },
);

for (const [name, signals] of [
  ['a second SIGINT after the first one drains', ['SIGINT', 'SIGINT']],
  ['SIGQUIT', ['SIGQUIT']],
]) {
  t.test(`${name}: stops at once, writes the stats file naming every line read and not settled, exits 3`, async (t) => {
    // The first 1,000 lines are handled at once, the others never finish. At most 500 lines are in flight, so once
    // 1,300 were read, 800 or more were handled and 300 or more are stuck: no drain can finish.
    const { run, statsPath, until } = await startRun(
      t,
      'signals-processor.js',
      ['--batch-size', '100', '--max-in-flight', '500'],
      {
        input: input(1000),
        env: { SLOW_MS: '600000' },
      },
    );
    await until('300 slow lines read', ({ received }) => received >= 1300);
    run.child.kill(signals[0]);
    if (signals.length > 1) {
      await waitForOutput(run, /SIGINT: stopping/);
      await sleep(400); // past the 300 ms in which a repeat is the same request (npm passing Ctrl-C on)
      run.child.kill(signals[1]);
    }
    const result = await run.done;
    t.equal(result.code, 3, 'the status for lines read and not settled', { stderr: result.stderr.slice(-2000) });
    t.match(
      result.stderr,
      new RegExp(
        `exiting at once on ${signals.length > 1 ? 'a second SIGINT' : 'SIGQUIT'}; \\d+ messages were not settled`,
      ),
    );
    const stats = readStats(statsPath);
    t.ok(stats.unsettled >= 300, `the stuck lines are unsettled (${stats.unsettled})`);
    t.ok(stats.acked >= 800, `the fast lines read before are handled (${stats.acked})`);
    accountsForEveryLine(t, stats);
    const named = new Set(stats.unsettledIds.map(lineOf));
    const missing = [];
    for (let n = 1001; n <= stats.received; n++) if (!named.has(n)) missing.push(n);
    t.same(missing, [], 'every slow line read is named');
    t.match(result.stderr, /missive: [\d,]+ received · [\d,]+ acked · .* unsettled/, 'the summary');
    t.match(
      result.stderr,
      /messages were read and not settled; stdin cannot deliver them again; the first 100 ids shown, all \d+ in /,
    );
  });
}

t.test('SIGQUIT while messages wait to be retried names them too', async (t) => {
  // Every handler throws; with 20 retries each message soon waits seconds for its next try, outside any batch.
  const { run, statsPath, until } = await startRun(t, 'always-fails-processor.js', ['--retries', '20'], {
    input: Array.from({ length: 50 }, (_, i) => `m${i}`).join('\n') + '\n',
  });
  await until('messages retried', ({ retries }) => retries >= 200);
  run.child.kill('SIGQUIT');
  const result = await run.done;
  t.equal(result.code, 3, result.stderr.slice(-2000));
  const stats = readStats(statsPath);
  t.equal(stats.received, 50);
  t.equal(stats.unsettled, 50);
  accountsForEveryLine(t, stats);
});

t.test('a stall writes the stats file naming the lines it leaves, and exits 1', async (t) => {
  const dir = t.testdir();
  const statsPath = join(dir, 'stats.json');
  const result = await runCli(
    [
      'run',
      fixture('never-settles-processor.js'),
      '--threads',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
      '--stats-file',
      statsPath,
    ],
    {
      input: 'a\nb\n',
    },
  );
  t.equal(result.code, 1, result.stderr.slice(-2000));
  const stats = readStats(statsPath);
  t.same(stats.unsettledIds.map(lineOf), [1, 2]);
  accountsForEveryLine(t, stats);
});
