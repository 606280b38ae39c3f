import type { Channel } from 'amqplib';
import { TransportError, describe } from '../errors.js';

/** The queues consumed and how they are set up, at open and again after every reconnect. */
export interface AmqpTopology {
  readonly queues: readonly string[];
  /** Only check that the queues exist; declare nothing. */
  readonly passive: boolean;
  /** An existing exchange each queue is bound to, with each routing key. */
  readonly exchange?: string;
  /** Binding keys; none binds once with the empty key (what fanout and headers exchanges expect). */
  readonly routingKeys: readonly string[];
}

/**
 * The broker refused the topology: a missing queue under `--passive`, a missing exchange, a queue declared with
 * other arguments, a user without permission. Retrying cannot help, so `open()` fails with it at once.
 */
export class AmqpTopologyError extends TransportError {}

/**
 * Declares (or, passive, checks) the queues and binds them, on `channel`. A refusal closes the channel, so the
 * first one ends the setup with an {@link AmqpTopologyError} that says what to change; any other failure (the
 * connection dropped) is thrown as it is, for the caller to retry.
 */
export async function declareTopology(channel: Channel, topology: AmqpTopology, where: string): Promise<void> {
  for (const queue of topology.queues) {
    const action = `${topology.passive ? 'check' : 'declare'} the queue "${queue}" at ${where}`;
    await step(
      () => (topology.passive ? channel.checkQueue(queue) : channel.assertQueue(queue, { durable: true })),
      action,
      (code, detail) =>
        code === 404
          ? `the queue "${queue}" does not exist at ${where}; --passive only checks that queues exist: declare it ` +
            'first, or drop --passive to let missive declare it (durable)'
          : code === 406
            ? `the queue "${queue}" exists at ${where} with other settings (${detail}); missive declares queues ` +
              'durable with no arguments: declare it yourself and pass --passive to use it as it is'
            : undefined,
    );
  }
  const exchange = topology.exchange;
  if (exchange === undefined) return;
  await step(
    () => channel.checkExchange(exchange),
    `check the exchange "${exchange}" at ${where}`,
    (code) =>
      code === 404
        ? `the exchange "${exchange}" does not exist at ${where}; missive binds queues to an existing exchange ` +
          'and does not create exchanges: declare it first (its publishers own it)'
        : undefined,
  );
  const keys = topology.routingKeys.length > 0 ? topology.routingKeys : [''];
  for (const queue of topology.queues) {
    for (const key of keys) {
      await step(
        () => channel.bindQueue(queue, exchange, key),
        `bind the queue "${queue}" to the exchange "${exchange}" with the key "${key}" at ${where}`,
      );
    }
  }
}

/** Runs one setup call; a refusal by the broker (an error with a numeric AMQP reply code) is explained. */
async function step(
  run: () => Promise<unknown>,
  action: string,
  explain?: (code: number, detail: string) => string | undefined,
): Promise<void> {
  try {
    await run();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Socket and connection failures carry string codes (ECONNRESET) or none: the caller retries those.
    if (typeof code !== 'number') throw error;
    const detail = describe(error);
    const message =
      explain?.(code, detail) ??
      (code === 403
        ? `cannot ${action}: the user lacks permission (${detail}); grant it (rabbitmqctl set_permissions) or use another user`
        : `cannot ${action}: ${detail}`);
    throw new AmqpTopologyError(message, { cause: error });
  }
}
