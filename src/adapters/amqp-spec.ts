import { UsageError } from '../errors.js';
import { DEFAULT_AMQP_URL, amqpUrlProblem } from './amqp-connection.js';
import { wholeNumberFlag, type AdapterSpec } from './spec.js';

/** `--adapter amqp`: RabbitMQ queues, at least once. */
export const amqpSpec: AdapterSpec = {
  name: 'amqp',
  summary:
    'RabbitMQ queues (AMQP 0-9-1), at least once: ack on success, a nack requeues after a pause, past ' +
    '--max-deliveries a dead letter; prefetch is the in-flight cap; reconnects by itself',
  flags: {
    'amqp-url': {
      type: 'string',
      default: DEFAULT_AMQP_URL,
      description: 'the broker (a password in it is never logged)',
    },
    queue: { type: 'string', multiple: true, description: 'a queue to consume (required; repeat for more)' },
    passive: {
      type: 'boolean',
      default: false,
      description: 'only check that the queues exist; without it they are declared durable when missing',
    },
    exchange: { type: 'string', description: 'an existing exchange to bind the queues to' },
    'routing-key': {
      type: 'string',
      multiple: true,
      description: 'bind each queue to --exchange with this key (repeat for more; none binds with the empty key)',
    },
    'max-deliveries': {
      type: 'string',
      default: '5',
      description: 'a message delivered more times becomes a dead letter "too many deliveries"',
    },
    'nack-delay': {
      type: 'string',
      default: '200',
      description: 'ms before a nacked message goes back to its queue, doubled each delivery up to 30 s, with jitter',
    },
  },
  async create(values, common) {
    const url = (values['amqp-url'] as string | undefined) ?? DEFAULT_AMQP_URL;
    const problem = amqpUrlProblem(url);
    if (problem) throw new UsageError(`--amqp-url: ${problem}`);
    const queues = (values['queue'] as string[] | undefined) ?? [];
    if (queues.length === 0 || queues.includes('')) {
      throw new UsageError('--adapter amqp needs at least one --queue NAME: the queue to consume');
    }
    const exchange = values['exchange'] as string | undefined;
    const routingKeys = (values['routing-key'] as string[] | undefined) ?? [];
    const passive = values['passive'] === true;
    if (routingKeys.length > 0 && exchange === undefined) {
      throw new UsageError('--routing-key binds the queues to an exchange: give --exchange NAME too');
    }
    if (passive && exchange !== undefined) {
      throw new UsageError(
        '--passive declares nothing, bindings included: drop --exchange/--routing-key, or --passive',
      );
    }
    // amqplib loads only when this adapter is chosen: it costs start-up for every other run.
    const { AmqpAdapter } = await import('./amqp.js');
    return new AmqpAdapter({
      url,
      queues,
      passive,
      exchange,
      routingKeys,
      maxDeliveries: wholeNumberFlag(values, 'max-deliveries', 5, 1),
      nackBackoff: { initialMs: wholeNumberFlag(values, 'nack-delay', 200, 0) },
      maxMessageBytes: common.maxMessageBytes,
      log: common.log,
    });
  },
};
