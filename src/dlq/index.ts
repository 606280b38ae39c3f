/**
 * `missive-node/dlq`: the dead-letter stores, and replay and purge as functions. Importing this module loads
 * DuckDB; the package root does not.
 */
export type { Dlq, DeadLetter, DeadLetterInput, DlqFilter, DlqListOptions, Fingerprint } from './dlq.js';
export { DuckDbDlq, type DuckDbDlqOptions } from './duckdb.js';
export { MemoryDlq } from './memory.js';
export { letterKey } from './letter-key.js';
export { purgeDeadLetters } from './purge.js';
export { replayDeadLetters, type ReplayOptions } from './replay.js';
export type { SqlResult, ReadOnlySqlOptions } from './sql-sandbox.js';
export { PostgresDlq, type PostgresDlqOptions } from './postgres/postgres-store.js';
