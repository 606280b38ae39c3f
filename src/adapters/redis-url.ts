import { brokerUrlProblem } from './broker-url.js';

/** Where the Redis adapters connect when no URL is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Why `url` cannot be a Redis URL, or null when it can. Here, apart from the client, so specs can check it. */
export function redisUrlProblem(url: string): string | null {
  return brokerUrlProblem(url, { kind: 'Redis', protocols: ['redis:', 'rediss:'], example: DEFAULT_REDIS_URL });
}
