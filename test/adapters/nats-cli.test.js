// `missive run --adapter nats` as operators use it: a process killed with SIGKILL before it acks leaves its
// messages with the consumer, and the next process gets them again. And the CLI loads the nats client only for
// --adapter nats.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect } from 'nats';
import { NATS_URL, needNats } from '../helpers/brokers.js';
import { fixture, runCli, startCli, waitForOutput } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

// Records "<body> <delivery count>" for every message it handles, after HANDLE_MS.
const RECORDER = `
import { appendFileSync } from 'node:fs';
import { Processor } from 'missive-node';
const delay = Number(process.env.HANDLE_MS ?? 0);
const processor = new Processor(undefined, { name: 'nats-recorder' });
processor.handleFor(() => true, async function record(m, ctx) {
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  appendFileSync(process.env.RECORD_FILE, m.rawData.toString() + ' ' + ctx.delivery.deliveryCount + '\\n');
});
export default processor;
`;

t.test(
  'SIGKILL before acking: the next process gets every message again, after ack_wait',
  await needNats(),
  async (t) => {
    const dir = t.testdir({ 'recorder.js': RECORDER });
    const nc = await connect({ servers: new URL(NATS_URL).host });
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const stream = `crash-${randomUUID()}`;
    const subject = `crash.${stream}`;
    t.teardown(async () => {
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    });
    const args = (dlq) => [
      'run',
      join(dir, 'recorder.js'),
      '--adapter',
      'nats',
      '--nats-url',
      NATS_URL,
      '--stream',
      stream,
      '--subject',
      subject,
      '--consumer',
      'workers',
      '--ack-wait',
      '2000',
      '--threads',
      '1',
      '--dlq',
      join(dir, dlq),
    ];
    const record = join(dir, 'handled');
    const N = 50;

    const first = startCli(args('first.duckdb'), { env: { RECORD_FILE: record, HANDLE_MS: '600000' } });
    t.teardown(() => first.child.kill('SIGKILL'));
    await waitForOutput(first, /created the durable consumer/);
    for (let i = 0; i < N; i++) await js.publish(subject, Buffer.from(`m-${i}`));
    // Every message fetched by the first process, none acked: its handlers are still waiting.
    await until(
      async () => (await jsm.consumers.info(stream, 'workers')).num_ack_pending === N,
      'all fetched by the first process',
    );
    first.child.kill('SIGKILL');
    const killed = await first.done;
    t.equal(killed.signal, 'SIGKILL');
    t.same(lines(record), [], 'the first process handled nothing');

    const second = startCli(args('second.duckdb'), { env: { RECORD_FILE: record, HANDLE_MS: '0' } });
    t.teardown(() => second.child.kill('SIGKILL'));
    await until(async () => {
      const info = await jsm.consumers.info(stream, 'workers');
      return lines(record).length >= N && info.num_ack_pending + info.num_pending === 0;
    }, 'every message handled and acked by the second process');
    second.child.kill('SIGTERM');
    const ended = await second.done;
    t.equal(ended.code, 0, 'the second process exits 0 on SIGTERM');
    const handled = lines(record).map((line) => line.split(' '));
    t.same(
      handled.map(([body]) => body).sort(),
      Array.from({ length: N }, (_, i) => `m-${i}`).sort(),
      'each message handled once',
    );
    t.ok(
      handled.every(([, count]) => Number(count) >= 2),
      'each one a redelivery (ctx.delivery.deliveryCount of 2 or more)',
    );
  },
);

t.test('the CLI loads the nats client only for --adapter nats', await needNats(), async (t) => {
  const dir = t.testdir({
    // An ESM resolve hook that notes every file of the nats package a process resolves.
    'hooks.mjs': `
      import { appendFileSync } from 'node:fs';
      let file;
      export function initialize(data) { file = data.file; }
      export async function resolve(specifier, context, next) {
        const resolved = await next(specifier, context);
        if (resolved.url.includes('/node_modules/nats/')) appendFileSync(file, resolved.url + '\\n');
        return resolved;
      }
    `,
  });
  const hooks = pathToFileURL(join(dir, 'hooks.mjs')).href;
  const watch = (name) => {
    const file = join(dir, name);
    writeFileSync(file, '');
    writeFileSync(
      join(dir, `${name}.mjs`),
      `import { register } from 'node:module';\nregister(${JSON.stringify(hooks)}, { data: { file: ${JSON.stringify(file)} } });\n`,
    );
    return { file, env: { NODE_OPTIONS: `--import=${pathToFileURL(join(dir, `${name}.mjs`)).href}` } };
  };

  const stdin = watch('stdin-loaded');
  const plain = await runCli(
    ['run', fixture('record-processor.js'), '--adapter', 'stdin', '--threads', '0', '--dlq', join(dir, 'a.duckdb')],
    {
      input: 'one\ntwo\n',
      env: { ...stdin.env, RECORD_FILE: join(dir, 'stdin-handled') },
    },
  );
  t.equal(plain.code, 0, plain.stderr);
  t.same(lines(join(dir, 'stdin-handled')), ['one', 'two'], 'the stdin run handled its input');
  t.same(lines(stdin.file), [], 'and never resolved a file of the nats package');

  // The control: the same hook sees nats when the run uses it.
  const nats = watch('nats-loaded');
  const stream = `loads-${randomUUID()}`;
  const nc = await connect({ servers: new URL(NATS_URL).host });
  const jsm = await nc.jetstreamManager();
  t.teardown(async () => {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });
  const run = startCli(
    [
      'run',
      fixture('record-processor.js'),
      '--adapter',
      'nats',
      '--nats-url',
      NATS_URL,
      '--stream',
      stream,
      '--subject',
      `loads.${stream}`,
      '--threads',
      '0',
      '--dlq',
      join(dir, 'b.duckdb'),
    ],
    { env: { ...nats.env, RECORD_FILE: join(dir, 'nats-handled') } },
  );
  t.teardown(() => run.child.kill('SIGKILL'));
  // Logged once the signal handlers are in place.
  await waitForOutput(run, /"msg":"running"/);
  run.child.kill('SIGTERM');
  t.equal((await run.done).code, 0);
  t.ok(
    lines(nats.file).some((url) => url.endsWith('/node_modules/nats/index.js')),
    'the nats run resolved the nats package',
  );
});

t.test('usage errors exit 2 before connecting; --help lists the nats flags', async (t) => {
  const missing = await runCli(['run', fixture('record-processor.js'), '--adapter', 'nats']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--adapter nats needs --stream NAME/);
  const bad = await runCli([
    'run',
    fixture('record-processor.js'),
    '--adapter',
    'nats',
    '--stream',
    'orders',
    '--ack-wait',
    'soon',
  ]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--ack-wait takes a whole number/);
  const help = await runCli(['run', '--help']);
  t.equal(help.code, 0);
  for (const flag of [
    '--nats-url',
    '--stream',
    '--subject',
    '--consumer',
    '--passive',
    '--max-deliveries',
    '--ack-wait',
    '--nak-delay',
    '--fetch-wait',
  ]) {
    t.match(help.stdout, flag, `--help shows ${flag}`);
  }
  t.match(help.stdout, /--adapter nats: a NATS JetStream stream/);
});
