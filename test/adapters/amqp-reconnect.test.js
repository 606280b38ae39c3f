// `missive run --adapter amqp` (a real child process) while RabbitMQ closes its connection three times during
// 20,000 messages: every message is handled, the deliveries of each lost channel that had not reached a handler
// are dropped instead of run for nothing, only acks RabbitMQ took count as acked, and handling goes on right after
// each reconnect. The run and its figures come from test/fixtures/amqp-reconnect-run.js, which
// bench/amqp-reconnect.js prints.
import t from 'tap';
import { AMQP_URL, needAmqp } from '../helpers/brokers.js';
import { runWithCloses } from '../fixtures/amqp-reconnect-run.js';

t.test('three closes during 20,000 messages through the CLI', await needAmqp(), async (t) => {
  const threads = 2;
  const batchSize = 250;
  const window = 4000;
  const closes = 3;
  // Each message holds its worker half a millisecond: a window takes about a second to get through, so closes land
  // while most of it still waits, and a batch runs an eighth of a second.
  const r = await runWithCloses({
    url: AMQP_URL,
    messages: 20_000,
    closes,
    threads,
    batchSize,
    maxInFlight: window,
    workUs: 500,
  });
  const figures = {
    handlerRuns: r.handlerRuns,
    duplicatesPerClose: r.duplicatesPerClose,
    closes: r.closes.map(({ reconnectMs, progressGapMs }) => ({ reconnectMs, progressGapMs })),
    stats: r.stats,
  };
  t.equal(r.exit.code, 0, 'the run exits 0 after SIGTERM', { stderr: r.exit.stderr.slice(-2000) });
  t.equal(r.distinct, 20_000, 'every message handled at least once');
  t.same(r.brokerAtEnd, { ready: 0, unacked: 0 }, 'the queue is empty: RabbitMQ acked every message once');
  t.ok(r.duplicates <= closes * window, `duplicates within a prefetch window per close`, figures);
  // Wasted runs are the messages already running at a close (a batch per worker) and those handled whose acks had
  // not reached the broker (at most a quarter window waits to be sent). Running the rest of the window as well
  // would cost up to the whole window per close.
  const bound = closes * (threads * batchSize + window / 4);
  t.ok(
    r.duplicates <= bound,
    `deliveries that had not started were dropped: ${r.duplicates} duplicates, at most ${bound}`,
    figures,
  );
  const s = r.stats;
  t.ok(s, 'the stats file was written');
  // RabbitMQ acked each message once. acked counts the acks it confirmed; the acks sent just before a close could
  // not be confirmed either way (it may have applied them as it closed), and the run logs how many: acked can fall
  // short of the broker's figure by at most those, and never exceed it.
  t.ok(s.acked <= 20_000, `acked never more than RabbitMQ acked: ${s.acked}`, figures);
  t.ok(
    s.acked + r.inDoubtAcks >= 20_000,
    `short only by acks in doubt at a close: ${s.acked} + ${r.inDoubtAcks}`,
    figures,
  );
  t.ok(
    s.acked >= 20_000 - (closes * window) / 4,
    'in doubt: at most a quarter window of acks per close (what may wait to be sent)',
    figures,
  );
  t.equal(
    s.received,
    s.acked + s.nacked + s.deadLettered + s.unsettled + s.requeuedByBroker,
    'the figures add up',
    figures,
  );
  const redelivered = s.received - 20_000;
  t.ok(
    redelivered <= s.requeuedByBroker && redelivered >= s.requeuedByBroker - r.inDoubtAcks,
    `what RabbitMQ took back was received again: ${redelivered} redeliveries, ${s.requeuedByBroker} requeued by the broker`,
  );
  t.ok(s.requeuedByBroker > 0, 'deliveries of the lost channels are reported as requeuedByBroker');
  t.same([s.nacked, s.deadLettered, s.unsettled], [0, 0, 0]);
  t.match(r.exit.stderr, /requeued by the broker/, 'the summary line names them');
  for (const [i, close] of r.closes.entries()) {
    // The aim is within a second of the broker being reachable again (it is at once here); the bound is generous
    // for a loaded machine.
    t.ok(
      close.progressGapMs !== undefined && close.progressGapMs < 3000,
      `close ${i + 1}: handling went on after ${close.progressGapMs} ms`,
      figures,
    );
  }
});
