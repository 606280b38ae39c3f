// Which server a README command needs, and the same rule as brokers.js when it is missing: skip with a reason on a
// developer's machine, fail under CI=true. The README's commands give no URL, so they reach the CLI's default URLs,
// whatever REDIS_URL or AMQP_URL the other tests are pointed at; those defaults are what is checked here.
import { reachableAt } from './brokers.js';

const SERVERS = {
  redis: { name: 'Redis', host: '127.0.0.1', port: 6379 },
  amqp: { name: 'RabbitMQ', host: '127.0.0.1', port: 5672 },
  nats: { name: 'NATS', host: '127.0.0.1', port: 4222 },
  postgres: { name: 'PostgreSQL', host: '127.0.0.1', port: 5432 },
};

/** The servers a command needs, from its `--adapter`, plus those a block's note names (`needs redis`). */
export function serversFor(command, note = '') {
  const needed = new Set();
  const adapter = /--adapter[ =](\S+)/.exec(command)?.[1] ?? '';
  if (adapter.startsWith('redis')) needed.add('redis');
  if (adapter === 'amqp') needed.add('amqp');
  if (adapter.startsWith('nats')) needed.add('nats');
  if (/postgres(ql)?:\/\//.test(command)) needed.add('postgres');
  for (const m of note.matchAll(/needs (redis|rabbitmq|amqp|nats|postgres)/gi))
    needed.add(m[1].toLowerCase() === 'rabbitmq' ? 'amqp' : m[1].toLowerCase());
  return [...needed];
}

const reachable = ({ host, port }) => reachableAt(host, port);

/** `{}` when every server is up; `{ skip: reason }` when one is not, outside CI; throws under CI=true. */
export async function needServers(keys) {
  for (const key of keys) {
    const server = SERVERS[key];
    if (await reachable(server)) continue;
    const reason = `${server.name} is not reachable at ${server.host}:${server.port}, where the README's command looks for it`;
    if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
    return { skip: reason };
  }
  return {};
}

/** Whether a TCP port on 127.0.0.1 is taken (the README's HTTP example listens on 8080). */
export const portTaken = (port) => reachable({ host: '127.0.0.1', port });
