// First-week mistakes on the command line get one clear line, never a stack trace. Real CLI, real ports.
import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fixture, runCli } from './helpers/cli.js';

const noStack = (t, stderr) => t.notMatch(stderr, /\n\s+at /, 'no stack trace');

async function busyPort(t) {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => server.close());
  return server.address().port;
}

t.test('a mistyped flag: did you mean', async (t) => {
  const result = await runCli(['run', fixture('record-processor.js'), '--thread', '2']);
  t.equal(result.code, 2);
  t.match(result.stderr, /Unknown option '--thread'; did you mean --threads\?/);
  const dlq = await runCli(['dlq', 'count', '--reasn', 'x']);
  t.match(dlq.stderr, /did you mean --reason\?/);
});

t.test('module mistakes: TypeScript, a factory, a Promise', async (t) => {
  const dir = t.testdir({
    'processor.ts': "import { Processor } from 'missive-node';\nexport default new Processor();\n",
    'factory.mjs': 'export default function build() {}\n',
    'promise.mjs': 'export default Promise.resolve({});\n',
  });
  const ts = await runCli(['run', join(dir, 'processor.ts')], { input: '' });
  t.equal(ts.code, 2);
  t.match(ts.stderr, /is TypeScript, which Node \d+ does not run by itself: compile it \(tsc\)/);
  const factory = await runCli(['run', join(dir, 'factory.mjs')], { input: '' });
  t.match(factory.stderr, /exports a function by default, not a Processor/);
  const promise = await runCli(['run', join(dir, 'promise.mjs')], { input: '' });
  t.match(promise.stderr, /exports a Promise by default, not a Processor: await it/);
  for (const r of [ts, factory, promise]) noStack(t, r.stderr);
});

t.test('a port in use: the metrics port is a usage error before input is read; the HTTP port one line', async (t) => {
  const port = await busyPort(t);
  const dir = t.testdir();
  const metrics = await runCli(
    ['run', fixture('record-processor.js'), '--metrics-port', String(port), '--dlq', join(dir, 'd.duckdb')],
    {
      input: 'a\n',
      env: { RECORD_FILE: join(dir, 'r.txt') },
    },
  );
  t.equal(metrics.code, 2, metrics.stderr);
  t.match(metrics.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use; choose another --metrics-port`));
  noStack(t, metrics.stderr);
  const http = await runCli([
    'run',
    fixture('record-processor.js'),
    '--adapter',
    'http',
    '--port',
    String(port),
    '--dlq',
    join(dir, 'd.duckdb'),
  ]);
  t.not(http.code, 0);
  t.match(http.stderr, /in use/);
  noStack(t, http.stderr);
});

t.test(
  'routes that differ in the worker threads: exit 2 before any input is read, naming the first difference',
  async (t) => {
    const dir = t.testdir();
    const result = await runCli(
      [
        'run',
        fixture('test-client-reordered-processor.js'),
        '--threads',
        '1',
        '--dlq',
        join(dir, 'd.duckdb'),
        '--stats-file',
        join(dir, 's.json'),
      ],
      {
        input: '{"type":"order"}\n',
      },
    );
    t.equal(result.code, 2, result.stderr);
    t.match(result.stderr, /route 0 is "order" in the main thread but "refund" in the worker/);
    noStack(t, result.stderr);
    t.notOk(existsSync(join(dir, 's.json')), 'the run never started');
  },
);
