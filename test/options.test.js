// Count options, checked by one rule (src/options.ts) wherever they are taken: the pipeline's and every adapter's.
// A count that is not a whole number, or below its least value, is refused before anything connects or runs, with
// an InvalidOptionError that names the option and what it was given; the least value itself is taken.
import t from 'tap';
import {
  AmqpAdapter,
  HttpAdapter,
  MemoryAdapter,
  NatsAdapter,
  RedisPubSubAdapter,
  RedisStreamsAdapter,
} from '../dist/adapters/index.js';
import { wholeNumberOption } from '../dist/options.js';
import { InvalidOptionError, MemoryDlq, Processor } from '../dist/index.js';
import { startPipeline } from '../dist/streams/pipeline.js';

/** What a refused count throws: the option's name, the least value, and what it was given. */
const refused = (name, given) => ({
  constructor: InvalidOptionError,
  code: 'MISSIVE_ERR_INVALID_OPTION',
  message: new RegExp(`^${name} must be a whole number of at least \\d+, got ${given.replace('.', '\\.')}$`),
});

t.test('the rule: whole numbers from the least value up pass through; anything else is refused, named', async (t) => {
  t.equal(wholeNumberOption('retries', 0, 0), 0);
  t.equal(wholeNumberOption('batchSize', 1000, 1), 1000);
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    t.throws(() => wholeNumberOption('batchSize', bad, 1), refused('batchSize', String(bad)), `refuses ${bad}`);
  }
  t.throws(() => wholeNumberOption('batchSize', '5', 1), refused('batchSize', '5'), 'refuses a string');
});

t.test('every adapter refuses a bad count at construction, before connecting', async (t) => {
  const cases = [
    ['claimIdleMs', () => new RedisStreamsAdapter({ stream: 's', claimIdleMs: 0 }), 0],
    ['blockMs', () => new RedisStreamsAdapter({ stream: 's', blockMs: 2.5 }), 2.5],
    ['maxBuffered', () => new RedisPubSubAdapter({ channels: ['c'], maxBuffered: 0 }), 0],
    ['connectAttempts', () => new AmqpAdapter({ queues: ['q'], connectAttempts: 0 }), 0],
    ['reconnectAttempts', () => new AmqpAdapter({ queues: ['q'], reconnectAttempts: -3 }), -3],
    ['maxConnections', () => new HttpAdapter({ maxConnections: 0 }), 0],
    ['retryAfterSeconds', () => new HttpAdapter({ retryAfterSeconds: -1 }), -1],
    ['ackWaitMs', () => new NatsAdapter({ stream: 's', ackWaitMs: 0 }), 0],
    ['MemoryAdapter maxDeliveries', () => new MemoryAdapter({ maxDeliveries: 0 }), 0],
  ];
  for (const [name, make, given] of cases) t.throws(make, refused(name, String(given)), name);
  // The least values are taken.
  t.ok(new HttpAdapter({ retryAfterSeconds: 0 }), 'retryAfterSeconds 0');
  t.ok(new AmqpAdapter({ queues: ['q'], connectAttempts: 1 }), 'connectAttempts 1');
});

t.test('startPipeline refuses a bad count before it opens the adapter', async (t) => {
  const processor = new Processor();
  processor.handleFor(
    () => true,
    () => {},
  );
  for (const [name, value] of [
    ['batchSize', 0],
    ['threads', -1],
    ['maxInFlight', 1.5],
    ['maxInFlightBlocks', 0],
    ['retries', -1],
    ['timeoutMs', -5],
  ]) {
    let opened = false;
    const adapter = new MemoryAdapter();
    const open = adapter.open.bind(adapter);
    adapter.open = (options) => {
      opened = true;
      return open(options);
    };
    await t.rejects(
      startPipeline({ adapter, processor, dlq: new MemoryDlq(), threads: 0, [name]: value }),
      refused(name, String(value)),
      name,
    );
    t.notOk(opened, `${name}: the adapter was not opened`);
  }
});
