// The PostgreSQL the dead-letter tests use: a database of each test file's own on the shared server (never
// stopped), dropped with its `dlq sql` roles at the end; a TCP relay a test can cut to take the database away.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sqlRoleName } from '../../dist/dlq/postgres/postgres-schema.js';
import { reachableAt } from './brokers.js';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** `{}` when PostgreSQL answers, `{ skip: reason }` when not (throws under CI=true), as the broker helpers do. */
export async function needPostgres() {
  const { hostname, port } = new URL(PG_URL);
  if (await reachableAt(hostname, Number(port || 5432))) return {};
  const reason = `PostgreSQL is not reachable at ${hostname}:${port || 5432} (start it, or set PG_URL)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  return { skip: reason };
}

/** Runs `sql` on the server's maintenance database (or `database`), on a connection of its own. */
export async function adminQuery(sql, params = [], database) {
  const url = new URL(PG_URL);
  if (database) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** Creates `missive_test_<random>` and drops it (and its roles) when `t` ends; resolves with its URL and name. */
export async function testDatabase(t) {
  const name = `missive_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  t.teardown(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    for (const kind of ['masked', 'revealed']) await adminQuery(`DROP ROLE IF EXISTS ${sqlRoleName(name, kind)}`);
  });
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { url: url.href, name };
}

/** Closes every connection to `database` but this one's, as a restarting server or a failover would. */
export async function cutConnections(database) {
  const { rows } = await adminQuery(
    'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  return Number(rows[0].n);
}

/**
 * A relay from a local port to the server: `url` reaches the database through it. `cut()` closes every relayed
 * connection and stops listening (the database is gone: connections are refused); `restore()` listens again.
 */
export async function relay(databaseUrl) {
  const target = new URL(databaseUrl);
  const sockets = new Set();
  let server;
  const listen = (port) =>
    new Promise((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect({ host: target.hostname, port: Number(target.port || 5432) });
        for (const [a, b] of [
          [client, upstream],
          [upstream, client],
        ]) {
          sockets.add(a);
          a.on('error', () => b.destroy());
          a.on('close', () => {
            sockets.delete(a);
            b.destroy();
          });
          a.pipe(b);
        }
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  const port = await listen(0);
  const url = new URL(databaseUrl);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.href,
    async cut() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
    async restore() {
      await listen(port);
    },
    async close() {
      await this.cut();
    },
  };
}
