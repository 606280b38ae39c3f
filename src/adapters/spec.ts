import { UsageError } from '../errors.js';
import type { Adapter } from './adapter.js';

/** One command-line flag an adapter takes, declared as data so `--help` and parsing come from one place. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  /** Whether the flag may be given more than once (values arrive as an array). */
  readonly multiple?: boolean;
  /** The default, as the user would type it; shown in `--help`. */
  readonly default?: string | boolean;
  /** One line for `--help`. */
  readonly description: string;
}

/** Options every adapter factory receives besides its own flags. */
export interface CommonAdapterOptions {
  /** Messages larger than this become dead letters `message too large`. */
  readonly maxMessageBytes: number;
  /** Where retries and connection problems are reported. */
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/**
 * How the CLI builds one adapter: `missive run <module> --adapter <name> [its flags]`. Each adapter module exports
 * its spec next to the adapter class; `src/cli/adapters.ts` lists them.
 */
export interface AdapterSpec {
  readonly name: string;
  /** One line for `--help`: what the transport is and its delivery guarantee. */
  readonly summary: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /**
   * Builds the adapter from parsed flag values (strings, booleans, or arrays for `multiple`). Throws a
   * `UsageError` for a missing or invalid flag; must not connect (that is `open`'s job). May resolve the adapter
   * asynchronously, e.g. to import its client library only when it is chosen.
   */
  create(values: Readonly<Record<string, unknown>>, common: CommonAdapterOptions): Adapter | Promise<Adapter>;
}

/**
 * A flag's value as a whole number from `min` to `max`, or `fallback` when the flag is absent. Anything else is a
 * `UsageError` that names the flag and what it takes.
 */
export function wholeNumberFlag(
  values: Readonly<Record<string, unknown>>,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (
    typeof raw !== 'string' ||
    !/^\s*\d+\s*$/.test(raw) ||
    !Number.isSafeInteger(value) ||
    value < min ||
    value > max
  ) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    // Whatever the user passed is quoted back as it prints.
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    throw new UsageError(`--${name} takes a whole number ${range}, got '${String(raw)}'`);
  }
  return value;
}
