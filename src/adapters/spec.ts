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
   * `UsageError` for a missing or invalid flag; must not connect (that is `open`'s job).
   */
  create(values: Readonly<Record<string, unknown>>, common: CommonAdapterOptions): Adapter;
}
