import { parseArgs } from 'node:util';
import { wholeNumberFlag, type FlagSpec } from '../adapters/spec.js';
import { UsageError } from '../errors.js';

export type FlagTable = Readonly<Record<string, FlagSpec>>;
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses argv against a table of flags. Unknown flags and missing values are usage errors that name the flag and
 * point at `--help`, reported before any input is read.
 */
export function parseFlags(
  command: string,
  argv: readonly string[],
  table: FlagTable,
): { values: FlagValues; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(table)) options[name] = { type: spec.type, multiple: spec.multiple === true };
  try {
    const parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values: parsed.values as FlagValues, positionals: parsed.positionals };
  } catch (error) {
    const text = error instanceof Error ? error.message.replace(/\. To specify a positional.*$/s, '') : String(error);
    throw new UsageError(`${command}: ${text}; see 'missive ${command} --help'`);
  }
}

/** A flag's value as a whole number of at least `min`, or its default. */
export function intFlag(values: FlagValues, name: string, fallback: number, min = 0): number {
  return wholeNumberFlag(values, name, fallback, min);
}

/** Help lines for a table of flags: `--name VALUE  description (default: x)`. */
export function describeFlags(table: FlagTable): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `--${name}${spec.type === 'string' ? ' VALUE' : ''}${spec.multiple ? ' ...' : ''}`;
    const fallback = spec.default !== undefined ? ` (default: ${String(spec.default)})` : '';
    return [left, `${spec.description}${fallback}`] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
}
