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
  for (const [name, spec] of Object.entries(table))
    options[name] = { type: spec.type, multiple: spec.multiple === true };
  try {
    const parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { values: parsed.values as FlagValues, positionals: parsed.positionals };
  } catch (error) {
    const text = error instanceof Error ? error.message.replace(/\. To specify a positional.*$/s, '') : String(error);
    const unknown = /Unknown option '--([^']+)'/.exec(text)?.[1];
    const near = unknown === undefined ? undefined : closest(unknown, Object.keys(table));
    const hint = near ? `; did you mean --${near}?` : '';
    throw new UsageError(`${command}: ${text}${hint}; see 'missive ${command} --help'`);
  }
}

/** The flag nearest to a mistyped one (at most two edits away, or one that starts the same way), if any. */
function closest(typed: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const distance = name.startsWith(typed) || typed.startsWith(name) ? 1 : editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The environment variable a flag can also be set by: `--redis-url` is `MISSIVE_REDIS_URL`. */
export function environmentName(flag: string): string {
  return `MISSIVE_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/** For `--help`: the one rule for environment variables, and why secrets belong there. */
export const ENVIRONMENT_HELP =
  'Every flag can also be set by an environment variable, MISSIVE_ and its name in capitals with _ for - ' +
  '(--redis-url is MISSIVE_REDIS_URL, --secret is MISSIVE_SECRET); a flag on the command line wins over its ' +
  'variable. A flag that can be repeated takes a comma-separated list; a switch takes true or false. Give ' +
  'secrets and URLs with passwords that way: every user of the machine can read a command line (ps).';

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off', '']);

/**
 * Fills the flags of `table` that the command line left out from their environment variables (see
 * {@link environmentName}). Applied per table, after the command line is parsed, so that a variable meant for
 * another adapter (MISSIVE_REDIS_URL in the environment of a stdin run) is not taken for a misplaced flag.
 */
export function withEnvironment(
  values: FlagValues,
  table: FlagTable,
  env: Readonly<Record<string, string | undefined>> = process.env,
): FlagValues {
  const filled: FlagValues = { ...values };
  for (const [name, spec] of Object.entries(table)) {
    const variable = environmentName(name);
    const text = env[variable];
    if (name === 'help' || filled[name] !== undefined || text === undefined) continue;
    if (spec.type === 'boolean') {
      const word = text.trim().toLowerCase();
      if (!TRUE.has(word) && !FALSE.has(word)) {
        throw new UsageError(`${variable} sets the switch --${name}: give true or false, got '${text}'`);
      }
      filled[name] = TRUE.has(word);
    } else {
      filled[name] = spec.multiple
        ? text
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
        : text;
    }
  }
  return filled;
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

/** Wraps a paragraph at 110 columns, like the rest of the help. */
export function wrap(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > 110) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}
