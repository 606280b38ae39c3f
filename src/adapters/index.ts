/**
 * `missive-node/adapters`: every built-in transport, and the kit for writing your own. An adapter is any object
 * with the {@link Adapter} shape; to run it from the CLI (`missive run ./processor.js --adapter ./my-adapter.js`),
 * default-export an {@link AdapterSpec} from its module. Importing this module loads the broker clients; the
 * package root does not.
 */
export type { Adapter, AdapterOpenOptions, AckKind } from './adapter.js';
export type { AdapterSpec, CommonAdapterOptions, FlagSpec } from './spec.js';
export { wholeNumberFlag } from './spec.js';
export type { Delivery, DeliveryMeta } from '../delivery.js';

// The kit: what most adapters need.
export { TickBatches } from './tick-batches.js';
export { tooLarge, tooLargeOutcome, sampleOf, SAMPLE_BYTES } from '../too-large.js';
export { brokerUrlProblem, redactUrl, type BrokerScheme } from './broker-url.js';
export { backoffDelay, type Backoff, type BackoffOptions } from '../retry.js';

// The built-in transports, each built from an options object that mirrors its CLI flags, and their specs.
export { StdinAdapter, type StdinAdapterOptions } from './stdin.js';
export { FileAdapter, InputError, STDIN_PATH, type FileAdapterOptions } from './file.js';
export { DEFAULT_BLOCK_BYTES, DEFAULT_MAX_MESSAGE_BYTES, type LineAdapterOptions } from './lines.js';
export { fileSpec, stdinSpec } from './lines-spec.js';
export { RedisPubSubAdapter, type RedisPubSubAdapterOptions } from './redis-pubsub.js';
export { redisPubSubSpec } from './redis-pubsub-spec.js';
export { RedisStreamsAdapter, type RedisStreamsAdapterOptions } from './redis-streams.js';
export { redisStreamsSpec } from './redis-streams-spec.js';
export { AmqpAdapter, type AmqpAdapterOptions, type AmqpDeliveryMeta } from './amqp.js';
export { amqpSpec } from './amqp-spec.js';
export { HttpAdapter, httpSpec, SIGNATURE_HEADER, type HttpAdapterOptions, type HttpDeliveryMeta } from './http.js';
export { NatsAdapter, NATS_TOO_MANY_DELIVERIES, type NatsAdapterOptions, type NatsDeliveryMeta } from './nats.js';
export { natsSpec } from './nats-spec.js';
export {
  MemoryAdapter,
  TOO_MANY_DELIVERIES,
  type MemoryAdapterOptions,
  type MemoryBody,
  type MemoryDelivery,
  type MemorySettleKind,
  type MemorySettlement,
  type PublishOptions,
} from './memory.js';
