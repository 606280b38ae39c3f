import { UsageError } from '../errors.js';
import { DEFAULT_REDIS_URL, redisUrlProblem } from './redis-url.js';
import { wholeNumberFlag, type AdapterSpec } from './spec.js';

/** `--adapter redis-pubsub`: channels and patterns, at most once. */
export const redisPubSubSpec: AdapterSpec = {
  name: 'redis-pubsub',
  summary:
    'Redis Pub/Sub channels and patterns, at most once: no redelivery, and messages over --max-buffered while ' +
    'the handlers are behind are dropped (counted, logged)',
  flags: {
    'redis-url': {
      type: 'string',
      default: DEFAULT_REDIS_URL,
      description: 'the Redis server (a password in it is never logged)',
    },
    channel: {
      type: 'string',
      multiple: true,
      description: 'a channel to subscribe to; with * ? or [ it is a pattern (PSUBSCRIBE); repeat for more',
    },
    'max-buffered': {
      type: 'string',
      default: '10000',
      description: 'messages held while handlers are behind; past it new messages are dropped',
    },
  },
  async create(values, common) {
    const url = (values['redis-url'] as string | undefined) ?? DEFAULT_REDIS_URL;
    const problem = redisUrlProblem(url);
    if (problem) throw new UsageError(`--redis-url: ${problem}`);
    const channels = (values['channel'] as string[] | undefined) ?? [];
    if (channels.length === 0 || channels.includes('')) {
      throw new UsageError('--adapter redis-pubsub needs at least one --channel NAME (or a pattern like orders.*)');
    }
    const maxBuffered = wholeNumberFlag(values, 'max-buffered', 10_000, 1);
    // The client library loads only when this adapter is chosen: it costs start-up for every other run.
    const { RedisPubSubAdapter } = await import('./redis-pubsub.js');
    return new RedisPubSubAdapter({
      url,
      channels,
      maxBuffered,
      maxMessageBytes: common.maxMessageBytes,
      log: common.log,
    });
  },
};
