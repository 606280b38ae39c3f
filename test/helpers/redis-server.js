// A redis-server of a test's own, on a free port, that the test may kill (SIGKILL) and start again: outage tests
// never touch the shared server. Its data is kept in an append-only file fsynced on every write, so a restart
// finds every entry and every ack that was answered before the kill.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reachableAt } from './brokers.js';
import { until } from './until.js';

/** Options for `t.test`: a skip reason when redis-server is not installed (a failure under CI=true). */
export function needRedisServer() {
  if (spawnSync('redis-server', ['--version']).status === 0) return {};
  const reason = 'redis-server is not installed (the outage tests start their own)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return { skip: reason };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a redis-server for test `t` (stopped and its files removed at teardown). Returns its `url`, `kill()`
 * (SIGKILL, resolves once it has exited) and `start()` (again, on the same port and files).
 */
export async function ownRedisServer(t) {
  const dir = mkdtempSync(join(tmpdir(), 'missive-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
  ];
  let child;
  const server = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      await until(() => reachableAt('127.0.0.1', port), `redis-server on port ${port}`, 20000);
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
  t.teardown(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}
