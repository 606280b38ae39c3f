import { createRequire } from 'node:module';
import type * as Api from '@duckdb/node-api';

export type { DuckDBAppender, DuckDBConnection, DuckDBValue } from '@duckdb/node-api';

/**
 * DuckDB's Node API, loaded with `require`: it is a CommonJS package of ~120 files re-exported from one index, and
 * an ESM `import` of it has Node scan every one of them for export names first (cjs-module-lexer). Every
 * `missive run` opens its store at start, and every `missive dlq` command opens one: loaded so, the package cost
 * 0.25-0.32 s of CPU, against 0.13-0.16 s with `require` (node 20, on this project's machine).
 */
const api = createRequire(import.meta.url)('@duckdb/node-api') as typeof Api;

export const { DuckDBBlobValue, DuckDBDataChunk, DuckDBInstance, DuckDBTimestampTZValue, listValue } = api;
export const StatementType: typeof Api.StatementType = api.StatementType;
export type DuckDBBlobValue = Api.DuckDBBlobValue;
export type DuckDBInstance = Api.DuckDBInstance;
export type DuckDBTimestampTZValue = Api.DuckDBTimestampTZValue;
export type StatementType = Api.StatementType;
