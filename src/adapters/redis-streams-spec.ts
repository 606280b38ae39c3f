import { UsageError } from '../errors.js';
import { DEFAULT_REDIS_URL, redisUrlProblem } from './redis-url.js';
import { wholeNumberFlag, type AdapterSpec } from './spec.js';

/** `--adapter redis-streams`: a consumer group on one stream, at least once. */
export const redisStreamsSpec: AdapterSpec = {
  name: 'redis-streams',
  summary:
    'a Redis stream via a consumer group, at least once: XACK on ack, a nack stays pending and is claimed again ' +
    'after --claim-idle, up to --max-deliveries',
  flags: {
    'redis-url': {
      type: 'string',
      default: DEFAULT_REDIS_URL,
      description: 'the Redis server (a password in it is never logged)',
    },
    stream: { type: 'string', description: 'the stream key to consume (required)' },
    group: {
      type: 'string',
      default: 'missive',
      description: 'the consumer group, created with the stream if missing',
    },
    consumer: {
      type: 'string',
      default: '<hostname>-<pid>',
      description: 'this consumer in the group; reuse the name after a restart to resume its pending entries',
    },
    field: {
      type: 'string',
      default: 'body',
      description: 'the entry field holding the body; other fields become headers',
    },
    'claim-idle': {
      type: 'string',
      default: '30000',
      description: 'ms an entry may stay unacked before it is claimed again (nacks, dead consumers)',
    },
    'max-deliveries': {
      type: 'string',
      default: '5',
      description: 'an entry delivered more times becomes a dead letter "too many deliveries"',
    },
    block: { type: 'string', default: '1000', description: 'ms one read waits for new entries' },
    'max-bytes-in-flight': {
      type: 'string',
      default: '67108864 (64 MiB)',
      description:
        'bytes of entries read and not yet settled; reading pauses past it (an entry larger than this is read alone)',
    },
  },
  async create(values, common) {
    const url = (values['redis-url'] as string | undefined) ?? DEFAULT_REDIS_URL;
    const problem = redisUrlProblem(url);
    if (problem) throw new UsageError(`--redis-url: ${problem}`);
    const stream = values['stream'] as string | undefined;
    if (!stream) throw new UsageError('--adapter redis-streams needs --stream KEY: the stream to consume');
    const consumer = values['consumer'] as string | undefined;
    // The client library loads only when this adapter is chosen: it costs start-up for every other run.
    const { RedisStreamsAdapter } = await import('./redis-streams.js');
    return new RedisStreamsAdapter({
      url,
      stream,
      group: (values['group'] as string | undefined) ?? 'missive',
      consumer: consumer && consumer !== '<hostname>-<pid>' ? consumer : undefined,
      field: (values['field'] as string | undefined) ?? 'body',
      claimIdleMs: wholeNumberFlag(values, 'claim-idle', 30_000, 1),
      maxDeliveries: wholeNumberFlag(values, 'max-deliveries', 5, 1),
      blockMs: wholeNumberFlag(values, 'block', 1000, 1),
      maxBytesInFlight: wholeNumberFlag(values, 'max-bytes-in-flight', 64 * 1024 * 1024, 1),
      maxMessageBytes: common.maxMessageBytes,
      log: common.log,
    });
  },
};
