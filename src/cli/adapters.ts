import { amqpSpec } from '../adapters/amqp.js';
import { httpSpec } from '../adapters/http.js';
import { natsSpec } from '../adapters/nats-spec.js';
import { fileSpec, stdinSpec } from '../adapters/lines-spec.js';
import { redisPubSubSpec } from '../adapters/redis-pubsub.js';
import { redisStreamsSpec } from '../adapters/redis-streams.js';
import type { AdapterSpec } from '../adapters/spec.js';

/** Every adapter the CLI can run, by `--adapter` name. */
export const ADAPTERS: readonly AdapterSpec[] = [stdinSpec, fileSpec, redisPubSubSpec, redisStreamsSpec, amqpSpec, httpSpec, natsSpec];

export function adapterNamed(name: string): AdapterSpec | undefined {
  return ADAPTERS.find((spec) => spec.name === name);
}
