// missive run --adapter amqp against the shared RabbitMQ: a message its handler nacks every time stops after
// --max-deliveries (5 by default, also MISSIVE_MAX_DELIVERIES) as one dead letter "too many deliveries", after
// pauses between its runs; the other messages are acked, and the queue ends empty.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { AMQP_URL, needAmqp } from '../helpers/brokers.js';
import { fixture, readDeadLetters, readStats, startCli, waitForOutput } from '../helpers/cli.js';
import { queueCounts } from '../helpers/rabbitmqctl.js';

const runs = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** Publishes `poison` and five good messages to a fresh durable queue, deleted after the test. */
async function poisonedQueue(t) {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  const queue = `missive-test-poison-${randomUUID()}`;
  t.teardown(async () => {
    await channel.deleteQueue(queue).catch(() => {});
    await connection.close().catch(() => {});
  });
  await channel.assertQueue(queue, { durable: true });
  for (const body of ['poison', 'ok-0', 'ok-1', 'ok-2', 'ok-3', 'ok-4']) {
    channel.sendToQueue(queue, Buffer.from(body), { messageId: body, persistent: true });
  }
  await channel.waitForConfirms();
  return queue;
}

const start = (queue, dir, extra, env, name = 'run') =>
  startCli(
    [
      'run',
      fixture('nack-poison-processor.js'),
      '--adapter',
      'amqp',
      '--amqp-url',
      AMQP_URL,
      '--queue',
      queue,
      '--threads',
      '0',
      '--dlq',
      join(dir, `${name}.duckdb`),
      '--stats-file',
      join(dir, `${name}.json`),
      ...extra,
    ],
    { env: { RECORD_FILE: join(dir, 'runs'), ...env } },
  );

/** Runs the CLI on the queue until the poison message is a dead letter, then stops it (SIGTERM). */
async function runUntilDeadLetter(t, queue, extra, env = {}, dir = t.testdir()) {
  const started = start(queue, dir, extra, env);
  // Generous: five pauses of at most 0.2, 0.4, 0.8, 1.6 and 3.2 s by default, on a loaded machine.
  await waitForOutput(started, /too many deliveries/, 60_000);
  started.child.kill('SIGTERM');
  const done = await started.done;
  t.equal(done.code, 0, 'the run stops cleanly', { stderr: done.stderr.slice(-2000) });
  return {
    runs: runs(join(dir, 'runs')),
    letters: await readDeadLetters(join(dir, 'run.duckdb')),
    stats: readStats(join(dir, 'run.json')),
  };
}

function checkPoison(t, { runs, letters, stats }, max, acked = 5) {
  const poison = runs.filter((line) => line.startsWith('poison '));
  t.same(
    poison,
    Array.from({ length: max }, (_, i) => `poison ${i + 1}`),
    `${max} runs of the poison message, counted 1 to ${max}`,
  );
  t.same(
    runs.filter((line) => line.startsWith('ok-')).sort(),
    ['ok-0 1', 'ok-1 1', 'ok-2 1', 'ok-3 1', 'ok-4 1'],
    'each other message once',
  );
  t.equal(letters.length, 1, 'one dead letter');
  t.match(letters[0], {
    id: 'poison',
    reason: 'too many deliveries',
    error: `delivered ${max + 1} times (--max-deliveries ${max})`,
  });
  t.equal(letters[0].body.toString(), 'poison');
  if (stats) t.match(stats, { acked, nacked: max, deadLettered: 1 });
}

t.test('a message nacked every time', await needAmqp(), async (t) => {
  t.test(
    '--max-deliveries 5: five runs, then one dead letter "too many deliveries"; the queue ends empty',
    async (t) => {
      const queue = await poisonedQueue(t);
      const result = await runUntilDeadLetter(t, queue, ['--max-deliveries', '5', '--nack-delay', '20']);
      checkPoison(t, result, 5);
      t.same(await queueCounts(queue), { ready: 0, unacked: 0 }, 'nothing left in the queue');
    },
  );

  t.test('no flag: the default of 5, with the default pause before each run again', async (t) => {
    const queue = await poisonedQueue(t);
    const started = Date.now();
    const result = await runUntilDeadLetter(t, queue, []);
    checkPoison(t, result, 5);
    t.ok(Date.now() - started < 60_000);
    t.same(await queueCounts(queue), { ready: 0, unacked: 0 }, 'nothing left in the queue');
  });

  t.test('the count survives a consumer killed (SIGKILL) and started again: still five runs in all', async (t) => {
    const queue = await poisonedQueue(t);
    const dir = t.testdir();
    // Killed while its handler holds the second delivery (the first copy): the adapter hands a copy over only once
    // the ack of its original is confirmed, so this kill leaves one message, which counts on from 2.
    const first = start(queue, dir, ['--nack-delay', '300'], { HOLD_AT: '2' }, 'killed');
    const deadline = Date.now() + 60_000;
    while (runs(join(dir, 'runs')).filter((line) => line.startsWith('poison ')).length < 2) {
      if (Date.now() > deadline) throw new Error(`the poison message did not run twice: ${runs(join(dir, 'runs'))}`);
      await sleep(20);
    }
    first.child.kill('SIGKILL');
    t.equal((await first.done).signal, 'SIGKILL');
    const result = await runUntilDeadLetter(t, queue, ['--nack-delay', '300'], {}, dir);
    checkPoison(t, { ...result, stats: undefined }, 5);
    t.same(await queueCounts(queue), { ready: 0, unacked: 0 }, 'nothing left in the queue');
  });

  t.test('MISSIVE_MAX_DELIVERIES sets it too', async (t) => {
    const queue = await poisonedQueue(t);
    const result = await runUntilDeadLetter(t, queue, ['--nack-delay', '0'], { MISSIVE_MAX_DELIVERIES: '2' });
    checkPoison(t, result, 2);
    t.same(await queueCounts(queue), { ready: 0, unacked: 0 }, 'nothing left in the queue');
  });
});
