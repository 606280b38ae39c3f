// Where the broker tests find their servers, and what they do when one is missing: skip with a one-line reason on
// a developer's machine, fail under CI=true (a skipped broker test in CI would hide a broken setup).
import net from 'node:net';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

function reachable(url, defaultPort) {
  const { hostname, port } = new URL(url);
  return reachableAt(hostname.replace(/^\[|\]$/g, ''), Number(port || defaultPort));
}

/** Whether a TCP connection to host:port opens within 2 s. */
export function reachableAt(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves to the options for `t.test(name, options, fn)`: `{ skip: reason }` when the server is down and we are
 * not in CI; throws under CI=true so the run fails.
 */
async function need(name, url, defaultPort) {
  if (await reachable(url, defaultPort)) return {};
  const shown = new URL(url);
  if (shown.password) shown.password = '***';
  const reason = `${name} is not reachable at ${shown} (start it, or set ${name === 'Redis' ? 'REDIS_URL' : 'AMQP_URL'})`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return { skip: reason };
}

export const needRedis = () => need('Redis', REDIS_URL, 6379);
export const needAmqp = () => need('RabbitMQ', AMQP_URL, 5672);

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** As the others, for NATS (`nats-server -js`: the tests need JetStream). */
export async function needNats() {
  if (await reachable(NATS_URL, 4222)) return {};
  const shown = new URL(NATS_URL);
  if (shown.password) shown.password = '***';
  const reason = `NATS is not reachable at ${shown} (start nats-server -js, or set NATS_URL)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return { skip: reason };
}
