import { createHash, randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';

/**
 * Where the store lives in its database: the table in schema `missive`, and two views of it for `dlq sql`, each
 * in a schema of its own so that a user's statement names `dead_letters` and finds the view its role may read.
 */
export const SCHEMA = 'missive';
export const TABLE = `${SCHEMA}.dead_letters`;
export const MASKED_SCHEMA = 'missive_masked';
export const REVEALED_SCHEMA = 'missive_revealed';
/**
 * Held (for one transaction) by whoever changes the schema or the roles: GRANT and CREATE OR REPLACE VIEW rewrite
 * the same catalog rows, so processes starting together must take turns ("tuple concurrently updated" otherwise).
 */
const SETUP_LOCK = "SELECT pg_advisory_xact_lock(hashtext('missive-node dead letters setup'))";
/** The passwords of the `dlq sql` roles, readable by whoever may write the store (never by the roles). */
const ROLES_TABLE = `${SCHEMA}.sql_roles`;

// Columns in the DuckDB store's order, so `SELECT *` looks the same on both. id and key compare bytewise
// (COLLATE "C"), as DuckDB does: listings and page cursors order the same on both stores.
export const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS ${TABLE} (
  key text COLLATE "C" PRIMARY KEY,
  id text COLLATE "C" NOT NULL,
  body bytea NOT NULL,
  reason text NOT NULL,
  error text,
  handler text,
  source text,
  headers jsonb,
  attempts integer NOT NULL,
  first_failed_at timestamptz NOT NULL,
  last_failed_at timestamptz NOT NULL,
  fingerprint_name text,
  fingerprint_host text,
  fingerprint_pid integer,
  fingerprint_version text,
  confidential boolean NOT NULL DEFAULT false
)`;

/** Body, error and headers of confidential letters are NULL here: what `dlq sql` sees without `--reveal`. */
const MASKED_VIEW = `CREATE OR REPLACE VIEW ${MASKED_SCHEMA}.dead_letters AS SELECT key, id,
  CASE WHEN confidential THEN NULL ELSE body END AS body, reason,
  CASE WHEN confidential THEN NULL ELSE error END AS error, handler, source,
  CASE WHEN confidential THEN NULL ELSE headers END AS headers, attempts, first_failed_at, last_failed_at,
  fingerprint_name, fingerprint_host, fingerprint_pid, fingerprint_version, confidential FROM ${TABLE}`;
const REVEALED_VIEW = `CREATE OR REPLACE VIEW ${REVEALED_SCHEMA}.dead_letters AS SELECT * FROM ${TABLE}`;

/** Which `dlq sql` role: the one that reads the masked view, or the one that reads every value. */
export type SqlRoleKind = 'masked' | 'revealed';

/** A role `dlq sql` logs in as, with its password. */
export interface SqlRole {
  readonly name: string;
  readonly password: string;
}

/**
 * The roles are the cluster's, not the database's, so each database has roles of its own, named by a digest of
 * its name: a store's readers never read another database's letters.
 */
export function sqlRoleName(database: string, kind: SqlRoleKind): string {
  return `missive_sql_${createHash('sha256').update(database).digest('hex').slice(0, 12)}_${kind}`;
}

/**
 * Creates what the store needs, once, whoever else starts at the same moment: the DDL runs under an advisory lock
 * of the database, in one transaction. Then, when the connecting user may create roles, the two `dlq sql` roles:
 * LOGIN roles with a random password and no privilege but USAGE on their view's schema and SELECT on its view, so
 * a user's statement runs with nothing else it could reach. Resolves with whether the roles exist.
 */
export async function prepareSchema(client: PoolClient): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query(SETUP_LOCK);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(CREATE_TABLE);
    await client.query(`CREATE INDEX IF NOT EXISTS dead_letters_age ON ${TABLE} (first_failed_at, id, key)`);
    await client.query(`CREATE INDEX IF NOT EXISTS dead_letters_id ON ${TABLE} (id)`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${ROLES_TABLE} (name text PRIMARY KEY, password text NOT NULL)`);
    await client.query(`REVOKE ALL ON ${ROLES_TABLE} FROM PUBLIC`);
    for (const [schema, view] of [
      [MASKED_SCHEMA, MASKED_VIEW],
      [REVEALED_SCHEMA, REVEALED_VIEW],
    ] as const) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(view);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return prepareRoles(client).catch(() => false);
}

async function prepareRoles(client: PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ db: string; may: boolean }>(
    'SELECT current_database() AS db, rolcreaterole OR rolsuper AS may FROM pg_roles WHERE rolname = current_user',
  );
  if (!rows[0]?.may) return false;
  const database = rows[0].db;
  await client.query('BEGIN');
  try {
    await client.query(SETUP_LOCK);
    for (const [kind, schema] of [
      ['masked', MASKED_SCHEMA],
      ['revealed', REVEALED_SCHEMA],
    ] as const) {
      const name = sqlRoleName(database, kind);
      const known = await client.query(`SELECT 1 FROM ${ROLES_TABLE} WHERE name = $1`, [name]);
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
      if (known.rowCount === 1 && exists.rowCount === 1) continue;
      const password = randomBytes(24).toString('base64url');
      const literal = (await client.query<{ q: string }>('SELECT quote_literal($1) AS q', [password])).rows[0]!.q;
      // NOINHERIT and no memberships: the role has exactly the two grants below (and what PUBLIC has).
      await client.query(
        `${exists.rowCount === 1 ? 'ALTER' : 'CREATE'} ROLE ${name} LOGIN NOINHERIT NOCREATEDB NOCREATEROLE ` +
          `CONNECTION LIMIT 16 PASSWORD ${literal}`,
      );
      await client.query(`ALTER ROLE ${name} SET search_path = ${schema}`);
      await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${name}`);
      await client.query(`GRANT SELECT ON ${schema}.dead_letters TO ${name}`);
      await client.query(
        `INSERT INTO ${ROLES_TABLE} (name, password) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET password = $2`,
        [name, password],
      );
    }
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The `dlq sql` role of this kind for the database, if schema setup could make it. */
export async function sqlRole(client: PoolClient, kind: SqlRoleKind): Promise<SqlRole | undefined> {
  const { rows } = await client
    .query<{ db: string }>('SELECT current_database() AS db')
    .catch(() => ({ rows: [] as { db: string }[] }));
  if (!rows[0]) return undefined;
  const name = sqlRoleName(rows[0].db, kind);
  const found = await client
    .query<{ password: string }>(`SELECT password FROM ${ROLES_TABLE} WHERE name = $1`, [name])
    .catch(() => ({ rows: [] as { password: string }[] }));
  return found.rows[0] ? { name, password: found.rows[0].password } : undefined;
}

/** Whether the store's table exists in the database the client is connected to. */
export async function tableExists(client: PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('${TABLE}')::text AS t`);
  return rows[0]?.t != null;
}
