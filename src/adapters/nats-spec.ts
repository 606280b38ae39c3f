// Imports only what the package root and `missive-node/adapters` export (see nats-options.ts). Neither this file nor
// the ones it imports load the `nats` client: the CLI lists this spec for every run, and only `open()` loads it.
import { InvalidOptionError, UsageError } from '../errors.js';
import { NatsAdapter } from './nats.js';
import {
  DEFAULT_FETCH_WAIT_MS,
  DEFAULT_NATS_CONSUMER,
  DEFAULT_NATS_URL,
  MIN_FETCH_WAIT_MS,
  natsUrlProblem,
} from './nats-options.js';
import { wholeNumberFlag, type AdapterSpec } from './spec.js';

/** `--adapter nats`: a JetStream stream through a durable pull consumer, at least once. */
export const natsSpec: AdapterSpec = {
  name: 'nats',
  summary:
    'a NATS JetStream stream through a durable pull consumer, at least once: ack on success, a nack is delivered ' +
    'again, past --max-deliveries a dead letter; fetches no more than the in-flight cap',
  flags: {
    'nats-url': {
      type: 'string',
      default: DEFAULT_NATS_URL,
      description: 'the NATS server (a password in it is never logged)',
    },
    stream: { type: 'string', description: 'the JetStream stream to consume (required)' },
    subject: {
      type: 'string',
      multiple: true,
      description:
        "subjects to create the stream with when it is missing, wildcards allowed ('orders.>'; repeat for more)",
    },
    consumer: {
      type: 'string',
      default: DEFAULT_NATS_CONSUMER,
      description: 'the durable pull consumer, created if missing; processes sharing it share the messages',
    },
    passive: {
      type: 'boolean',
      default: false,
      description: 'only check that the stream and the consumer exist; without it they are created when missing',
    },
    'max-deliveries': {
      type: 'string',
      default: '5',
      description: 'a message delivered more times becomes a dead letter "too many deliveries" and is terminated',
    },
    'ack-wait': {
      type: 'string',
      default: '30000',
      description:
        'ms a fetched message may stay unsettled before it is delivered again (set when the consumer is created)',
    },
    'nak-delay': {
      type: 'string',
      default: '0',
      description: 'ms a nacked message waits before it is delivered again',
    },
    'fetch-wait': {
      type: 'string',
      default: String(DEFAULT_FETCH_WAIT_MS),
      description: `ms one pull request waits for messages before the next is sent (at least ${MIN_FETCH_WAIT_MS})`,
    },
  },
  create(values, common) {
    const url = (values['nats-url'] as string | undefined) ?? DEFAULT_NATS_URL;
    const problem = natsUrlProblem(url);
    if (problem) throw new UsageError(`--nats-url: ${problem}`);
    const stream = values['stream'] as string | undefined;
    if (!stream) throw new UsageError('--adapter nats needs --stream NAME: the JetStream stream to consume');
    const subjects = (values['subject'] as string[] | undefined) ?? [];
    const passive = values['passive'] === true;
    if (passive && subjects.length > 0) {
      throw new UsageError('--passive creates nothing, so --subject has no use: drop one of them');
    }
    try {
      return new NatsAdapter({
        url,
        stream,
        subjects,
        consumer: (values['consumer'] as string | undefined) ?? DEFAULT_NATS_CONSUMER,
        passive,
        maxDeliveries: wholeNumberFlag(values, 'max-deliveries', 5, 1),
        ackWaitMs: wholeNumberFlag(values, 'ack-wait', 30_000, 1),
        nakDelayMs: wholeNumberFlag(values, 'nak-delay', 0, 0),
        fetchWaitMs: wholeNumberFlag(values, 'fetch-wait', DEFAULT_FETCH_WAIT_MS, MIN_FETCH_WAIT_MS),
        maxMessageBytes: common.maxMessageBytes,
        log: common.log,
      });
    } catch (error) {
      // A stream or consumer name NATS cannot take is still the user's typo.
      if (error instanceof InvalidOptionError) throw new UsageError(error.message);
      throw error;
    }
  },
};
