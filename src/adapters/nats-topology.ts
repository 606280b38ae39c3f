// Imports only what the package root and `missive-node/adapters` export (see nats-options.ts); `nats` types only,
// so loading this file does not load the client.
import type { AckPolicy, ConsumerInfo, DeliverPolicy, JetStreamManager, StorageType } from 'nats';
import { TransportError, describe } from '../errors.js';
import type { ResolvedNatsOptions } from './nats-options.js';

/** JetStream API error codes (`api_error.err_code`) this adapter tells apart. */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/**
 * Makes sure the stream and the durable pull consumer exist: created when missing (unless `passive`), reused as
 * they are when present. A consumer that cannot work here (a push consumer, one without explicit acks) fails with
 * a message saying what to change. Returns the consumer's info.
 */
export async function ensureNatsTopology(
  jsm: JetStreamManager,
  options: ResolvedNatsOptions,
  where: string,
): Promise<ConsumerInfo> {
  await ensureStream(jsm, options, where);
  return ensureConsumer(jsm, options, where);
}

async function ensureStream(jsm: JetStreamManager, options: ResolvedNatsOptions, where: string): Promise<void> {
  const { stream, subjects, passive } = options;
  try {
    const info = await jsm.streams.info(stream);
    const missing = subjects.filter((subject) => !info.config.subjects?.includes(subject));
    if (missing.length > 0) {
      options.log(
        'info',
        `the stream "${stream}" exists and is used as it is; it was not created with ${missing.join(', ')}`,
        {
          subjects: info.config.subjects,
        },
      );
    }
    return;
  } catch (error) {
    if (apiCode(error) !== STREAM_NOT_FOUND) throw failure(`cannot look up the stream "${stream}" at ${where}`, error);
  }
  if (passive) {
    throw new TransportError(
      `the stream "${stream}" does not exist at ${where}, and --passive creates nothing: create it, or drop --passive ` +
        'and give --subject to have it created',
    );
  }
  if (subjects.length === 0) {
    throw new TransportError(
      `the stream "${stream}" does not exist at ${where}: give the subjects to create it with (--subject 'orders.>'), ` +
        'or create it yourself',
    );
  }
  try {
    await jsm.streams.add({ name: stream, subjects: [...subjects], storage: 'file' as StorageType });
    options.log('info', `created the stream "${stream}" for ${subjects.join(', ')}`);
  } catch (error) {
    throw failure(`cannot create the stream "${stream}" for ${subjects.join(', ')} at ${where}`, error);
  }
}

async function ensureConsumer(
  jsm: JetStreamManager,
  options: ResolvedNatsOptions,
  where: string,
): Promise<ConsumerInfo> {
  const { stream, consumer, passive } = options;
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(stream, consumer);
  } catch (error) {
    if (apiCode(error) !== CONSUMER_NOT_FOUND)
      throw failure(`cannot look up the consumer "${consumer}" of "${stream}" at ${where}`, error);
  }
  if (info) {
    checkConsumer(info, options, where);
    return info;
  }
  if (passive) {
    throw new TransportError(
      `the consumer "${consumer}" of the stream "${stream}" does not exist at ${where}, and --passive creates ` +
        'nothing: create it (a durable pull consumer with explicit acks), or drop --passive',
    );
  }
  try {
    const created = await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: 'explicit' as AckPolicy,
      deliver_policy: 'all' as DeliverPolicy,
      ack_wait: options.ackWaitMs * 1_000_000,
      // The server must keep delivering past --max-deliveries: the delivery after the last one is how this adapter
      // sees that a message is to be dead-lettered.
      max_deliver: -1,
    });
    options.log('info', `created the durable consumer "${consumer}" of the stream "${stream}"`);
    return created;
  } catch (error) {
    throw failure(`cannot create the consumer "${consumer}" of the stream "${stream}" at ${where}`, error);
  }
}

function checkConsumer(info: ConsumerInfo, options: ResolvedNatsOptions, where: string): void {
  const { config } = info;
  const name = `the consumer "${options.consumer}" of the stream "${options.stream}" at ${where}`;
  if (config.deliver_subject) {
    throw new TransportError(
      `${name} is a push consumer; this adapter pulls: give another --consumer name, or delete it`,
    );
  }
  if (config.ack_policy !== 'explicit') {
    throw new TransportError(
      `${name} acks "${config.ack_policy}", not "explicit": give another --consumer name, or delete it`,
    );
  }
  const maxDeliver = config.max_deliver ?? -1;
  if (maxDeliver > 0 && maxDeliver <= options.maxDeliveries) {
    options.log(
      'warn',
      `${name} stops delivering a message after ${maxDeliver} deliveries, before --max-deliveries ` +
        `${options.maxDeliveries} can dead-letter it: such a message stays in the stream, unhandled and not stored`,
    );
  }
  const ackWaitMs = Math.round((config.ack_wait ?? 0) / 1_000_000);
  if (ackWaitMs > 0 && ackWaitMs !== options.ackWaitMs) {
    options.log('info', `${name} exists with an ack wait of ${ackWaitMs} ms, which it keeps`, { ackWaitMs });
  }
}

function apiCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } } | null)?.api_error?.err_code;
}

function failure(what: string, error: unknown): TransportError {
  const hint = /no responders|503/i.test(describe(error))
    ? ' (is JetStream enabled on the server? start it with -js)'
    : '';
  return new TransportError(`${what}: ${describe(error)}${hint}`, { cause: error });
}
