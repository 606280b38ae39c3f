// RabbitMQ's own view, through rabbitmqctl on this machine: a queue's counts, and closing a named connection as the
// broker would (the tests that need it run against a local broker).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Ready and unacknowledged counts of `queue` as RabbitMQ reports them; null if it has no such queue. */
export async function queueCounts(queue) {
  const { stdout } = await exec('rabbitmqctl', [
    'list_queues',
    'name',
    'messages_ready',
    'messages_unacknowledged',
    '-q',
    '-s',
  ]);
  const line = stdout.split('\n').find((l) => l.split('\t')[0] === queue);
  if (!line) return null;
  const [, ready, unacked] = line.split('\t');
  return { ready: Number(ready), unacked: Number(unacked) };
}

/** The broker's pids of the connections named `name`, as close_connection takes them. */
export async function connectionsNamed(name) {
  // The plain table prints pids as close_connection takes them (`<rabbit@host.1.2.0>`); JSON does not.
  const { stdout } = await exec('rabbitmqctl', ['list_connections', 'pid', 'client_properties', '-q', '-s']);
  return stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0]);
}

/** Has RabbitMQ close the connections named `name` (others' are left alone); resolves with how many it closed. */
export async function closeConnectionsNamed(name, why = 'missive test: forced close') {
  const pids = await connectionsNamed(name);
  for (const pid of pids) await exec('rabbitmqctl', ['close_connection', pid, why]);
  return pids.length;
}
