/**
 * The columns of a stored dead letter, in table order, the same in every store (DuckDB's Appender writes by
 * position, so its table must match this exactly).
 */
export const COLUMNS = [
  'key',
  'id',
  'body',
  'reason',
  'error',
  'handler',
  'source',
  'headers',
  'attempts',
  'first_failed_at',
  'last_failed_at',
  'fingerprint_name',
  'fingerprint_host',
  'fingerprint_pid',
  'fingerprint_version',
  'confidential',
] as const;
