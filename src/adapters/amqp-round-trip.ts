import type { Channel } from 'amqplib';

/** AMQP 0-9-1 method ids, `class << 16 | method`: basic (60) qos (10), and its answer qos-ok (11). */
const BASIC_QOS = (60 << 16) | 10;
const BASIC_QOS_OK = (60 << 16) | 11;

/** amqplib's callback RPC, which its promise API wraps; not in its types. */
type CallbackRpc = (
  this: Channel,
  method: number,
  fields: object,
  expect: number,
  done: (error: unknown) => void,
) => void;

/**
 * A round trip on `channel` that changes nothing: a `basic.qos` with the prefetch count its consumers already have.
 * RabbitMQ handles a channel's frames in order, so its answer means every frame sent before it was applied.
 *
 * The round trip follows every ack frame the adapter sends, so it goes through amqplib's callback RPC where there
 * is one: `channel.prefetch()` builds a new promisified function per call (`util.promisify`), and in a consumer
 * profile those calls cost more main-thread time than anything else the adapter does per message. Where amqplib
 * has no such RPC (a future version), `channel.prefetch()` does the same round trip.
 */
export function roundTrip(channel: Channel, prefetch: number): Promise<void> {
  const rpc = (channel as unknown as { _rpc?: CallbackRpc })._rpc;
  if (typeof rpc !== 'function') return channel.prefetch(prefetch).then(() => undefined);
  return new Promise((resolve, reject) => {
    // A closed channel throws here, which rejects, as the promise API would.
    rpc.call(channel, BASIC_QOS, { prefetchCount: prefetch, prefetchSize: 0, global: false }, BASIC_QOS_OK, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}
