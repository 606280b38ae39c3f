// RabbitMQ closes the connection of a running `missive run --adapter amqp` several times: what does that cost?
// Run: node bench/amqp-reconnect.js [--messages 20000] [--closes 3] [--every-ms 7000] [--threads 2]
//      [--batch-size 1000] [--max-in-flight N] [--work-us 0] [--runs 1] [--amqp-url amqp://guest:guest@127.0.0.1:5672]
//      (after `npx tsc -p .`; needs rabbitmqctl on this machine, to close the connection)
// Without --every-ms the closes come at even shares of the messages handled (a quarter, a half, three quarters),
// and the last share (at most a window) is published after the last close, so they land during the run whatever its
// speed. --work-us is how long the handler holds its thread per message.
// Prints, per run: handler runs against the messages, duplicates (runs beyond the messages) per close against the
// prefetch window, acked (from --stats-file) against the messages and the acks RabbitMQ could not confirm as it
// closed (it may have applied them or not), the broker's counts at the end, and per close
// the time to reconnect and the gap in progress: from the close to the first message handled that stays handled
// (the processor's record), and to the first ack RabbitMQ confirmed (the run's acked figure, on --metrics-port).
import { parseArgs } from 'node:util';
import { runWithCloses } from '../test/fixtures/amqp-reconnect-run.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    closes: { type: 'string', default: '3' },
    'every-ms': { type: 'string' },
    threads: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '1000' },
    'max-in-flight': { type: 'string' },
    'work-us': { type: 'string', default: '0' },
    runs: { type: 'string', default: '1' },
    'amqp-url': { type: 'string', default: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
  },
});
const options = {
  url: values['amqp-url'],
  messages: Number(values.messages),
  closes: Number(values.closes),
  everyMs: values['every-ms'] === undefined ? undefined : Number(values['every-ms']),
  threads: Number(values.threads),
  batchSize: Number(values['batch-size']),
  maxInFlight: values['max-in-flight'] === undefined ? undefined : Number(values['max-in-flight']),
  workUs: Number(values['work-us']),
};
const number = new Intl.NumberFormat('en-US');
const ms = (value) => (value === undefined ? 'never' : `${number.format(Math.round(value))} ms`);

console.log(
  `amqp-reconnect: ${number.format(options.messages)} messages, ${options.closes} closes ` +
    `${options.everyMs === undefined ? 'at even shares of the messages' : `${options.everyMs} ms apart`}, ` +
    `--threads ${options.threads} --batch-size ${options.batchSize}, work ${options.workUs} µs/message`,
);
for (let run = 1; run <= Number(values.runs); run++) {
  const r = await runWithCloses(options);
  const s = r.stats;
  const seconds = (r.lastHandledAt - r.firstHandledAt) / 1000;
  console.log(`run ${run}: prefetch window ${number.format(r.window)}, handling took ${seconds.toFixed(1)} s`);
  console.log(
    `  handler runs     ${number.format(r.handlerRuns)} for ${number.format(r.messages)} messages (${number.format(r.distinct)} distinct)`,
  );
  console.log(
    `  duplicates       ${number.format(r.duplicates)}: per close ${r.duplicatesPerClose.map((d) => number.format(d)).join(', ')} ` +
      `(window ${number.format(r.window)})`,
  );
  if (s) {
    const parts = ['acked', 'nacked', 'deadLettered', 'unsettled', 'requeuedByBroker'].filter((k) => k in s);
    const sum = parts.reduce((total, k) => total + s[k], 0);
    console.log(
      `  acked            ${number.format(s.acked)} vs ${number.format(r.messages)} messages ` +
        `(${number.format(r.inDoubtAcks)} acks sent just before a close could not be confirmed)`,
    );
    console.log(
      `  figures          received ${number.format(s.received)} = ` +
        `${parts.map((k) => `${k} ${number.format(s[k])}`).join(' + ')} ${sum === s.received ? '(adds up)' : `(sums to ${number.format(sum)})`}`,
    );
  } else {
    console.log(`  acked            no stats file (exit ${r.exit.code ?? r.exit.signal})`);
  }
  console.log(`  broker at end    ready ${r.brokerAtEnd?.ready}, unacked ${r.brokerAtEnd?.unacked}`);
  r.closes.forEach((c, i) =>
    console.log(
      `  close ${i + 1}          reconnected after ${ms(c.reconnectMs)}, handling again after ${ms(c.progressGapMs)}, ` +
        `acks confirmed again after ${ms(c.brokerGapMs)}`,
    ),
  );
  console.log(
    `  longest gap in progress after a close: ${ms(r.longestGapMs)} in handling, ${ms(r.longestBrokerGapMs)} at the broker`,
  );
}
