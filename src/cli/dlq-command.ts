import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { DlqFilter, Fingerprint } from '../dlq/dlq.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import { matchesFilter } from '../dlq/letters.js';
import { isPostgresUrl, redactUrl } from '../dlq/postgres/postgres-url.js';
import { purgeDeadLetters } from '../dlq/purge.js';
import { openSharedStore, type SharedStore } from '../dlq/shared-access.js';
import { MissiveError, UsageError } from '../errors.js';
import { letterRecord, renderLetter, renderRows, renderTable } from './dlq-format.js';
import { replay, replaySummary } from './dlq-replay.js';
import { serveCommand } from './dlq-serve.js';
import {
  ENVIRONMENT_HELP,
  describeFlags,
  intFlag,
  parseFlags,
  withEnvironment,
  wrap,
  type FlagTable,
  type FlagValues,
} from './flags.js';
import { loadProcessor } from './load-processor.js';
import { DEFAULT_DLQ_PATH } from './run-command.js';

/** There is no dead-letter file where `--dlq` points; read commands never create one. */
class DlqFileMissingError extends MissiveError {
  constructor(path: string) {
    super(
      'MISSIVE_ERR_DLQ_MISSING',
      `no dead-letter file at ${path}: missive run creates it when it starts, so either no run has used it ` +
        'yet, or --dlq should point at the file given to missive run',
    );
  }
}

/** One `missive dlq` action, declared as data so dispatch and `--help` come from one place. */
interface Action {
  /** `show <id>`, as the usage line and the overview show it. */
  readonly synopsis: string;
  /** One line for the overview. */
  readonly summary: string;
  /** A paragraph for the action's own `--help`. */
  readonly details: string;
  readonly flags: FlagTable;
  run(values: FlagValues, positionals: readonly string[]): Promise<number>;
}

const FILE_FLAG: FlagTable = {
  dlq: {
    type: 'string',
    default: DEFAULT_DLQ_PATH,
    description: 'the DuckDB file missive run wrote dead letters to, or its postgres://user@host:port/db URL',
  },
};
const FILTER_FLAGS: FlagTable = {
  reason: { type: 'string', description: "only this reason; a value ending in * is a prefix ('timeout*')" },
  handler: { type: 'string', description: 'only letters of this handler' },
  since: {
    type: 'string',
    description:
      'only letters last failed at or after this: an ISO date or time (2024-05-01T12:00Z) or an age (30m, 2d)',
  },
};
const REVEAL_FLAG: FlagTable = {
  reveal: { type: 'boolean', description: 'show the body and error of confidential letters instead of masking them' },
};
const HELP_FLAG: FlagTable = { help: { type: 'boolean', description: 'show this help' } };

const ACTIONS: Record<string, Action> = {
  count: {
    synopsis: 'count',
    summary: 'print how many dead letters the filters select',
    details: 'Prints how many dead letters the filters select (all of them without filters), as a bare number.',
    flags: { ...FILE_FLAG, ...FILTER_FLAGS, ...HELP_FLAG },
    run: async (values, positionals) => {
      noPositionals('count', positionals);
      const filter = filterOf(values);
      return withStore(values, async (dlq) => {
        await write(`${await dlq.count(filter)}\n`);
        return 0;
      });
    },
  },
  list: {
    synopsis: 'list',
    summary: 'list dead letters, oldest first failure first, as a table or JSON',
    details:
      'Lists dead letters, oldest first failure first: id, reason, handler, attempts, last failure (UTC) and the ' +
      'start of the body, with non-printable characters escaped.',
    flags: {
      ...FILE_FLAG,
      ...FILTER_FLAGS,
      limit: { type: 'string', default: '50', description: 'the most letters to list' },
      json: { type: 'boolean', description: 'print one JSON array of whole letters (bodies as in export) instead' },
      ...REVEAL_FLAG,
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      noPositionals('list', positionals);
      const filter = filterOf(values);
      const limit = intFlag(values, 'limit', 50, 1);
      const reveal = values['reveal'] === true;
      return withStore(values, async (dlq, path) => {
        const letters = await dlq.list({ ...filter, limit });
        if (values['json'] === true) {
          await write(
            `${JSON.stringify(
              letters.map((letter) => letterRecord(letter, reveal)),
              null,
              2,
            )}\n`,
          );
          return 0;
        }
        if (letters.length === 0) {
          await write(`no dead letters${isFiltered(filter) ? ' match the filters' : ''} in ${path}\n`);
          return 0;
        }
        await write(`${renderTable(letters, reveal)}\n`);
        if (letters.length === limit) {
          const total = await dlq.count(filter);
          if (total > limit) process.stderr.write(`missive: showing ${limit} of ${total}; raise --limit to see more\n`);
        }
        return 0;
      });
    },
  },
  show: {
    synopsis: 'show <id|key>',
    summary: 'print every field of one dead letter',
    details:
      'Prints every field of one dead letter, found by its message id or by its key (the KEY column of list): the ' +
      'body as text when it is UTF-8 (else base64, with a note), the headers as JSON, the error with its stack. ' +
      'When several letters have that id (different messages a transport sent with one id), lists them all and ' +
      'says how to show one by its key. Exits 1 when no letter has that id or key.',
    flags: {
      ...FILE_FLAG,
      json: { type: 'boolean', description: 'print the letter as one JSON object (bodies as in export) instead' },
      ...REVEAL_FLAG,
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0
            ? "dlq show needs the letter's id: missive dlq show ID (ids are in the first column of missive dlq list)"
            : `dlq show takes one id, got ${positionals.length}: ${positionals.join(' ')}`,
        );
      }
      const id = positionals[0]!;
      const reveal = values['reveal'] === true;
      const json = values['json'] === true;
      return withStore(values, async (dlq, path) => {
        const byKey = await dlq.get(id);
        const letters = byKey?.key === id ? [byKey] : await dlq.findById(id);
        if (letters.length === 0) {
          process.stderr.write(
            `missive: no dead letter with id or key ${JSON.stringify(id)} in ${path}; see the ids and keys with missive dlq list\n`,
          );
          return 1;
        }
        if (letters.length === 1) {
          await write(
            json
              ? `${JSON.stringify(letterRecord(letters[0]!, reveal), null, 2)}\n`
              : renderLetter(letters[0]!, reveal),
          );
          return 0;
        }
        if (json) {
          await write(
            `${JSON.stringify(
              letters.map((letter) => letterRecord(letter, reveal)),
              null,
              2,
            )}\n`,
          );
          return 0;
        }
        await write(`${letters.length} dead letters have id ${JSON.stringify(id)}:\n${renderTable(letters, reveal)}\n`);
        process.stderr.write('missive: show one of them with missive dlq show KEY (the KEY column)\n');
        return 0;
      });
    },
  },
  export: {
    synopsis: 'export',
    summary: 'write the selected dead letters to stdout as JSON lines',
    details:
      'Writes one JSON object per selected letter to stdout, oldest first failure first: the body as a UTF-8 ' +
      'string ("body") when it is valid UTF-8, else as base64 ("bodyBase64"). The store is read a page at a time, ' +
      'so any number of letters can be exported.',
    flags: {
      ...FILE_FLAG,
      ...FILTER_FLAGS,
      format: { type: 'string', default: 'jsonl', description: 'the output format; jsonl is the only one' },
      ...REVEAL_FLAG,
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      noPositionals('export', positionals);
      const filter = filterOf(values);
      const format = values['format'] ?? 'jsonl';
      if (format !== 'jsonl')
        throw new UsageError(`--format takes jsonl (the only export format), got '${String(format)}'`);
      const reveal = values['reveal'] === true;
      return withStore(values, async (dlq) => {
        for await (const letter of dlq) {
          if (!matchesFilter(letter, filter)) continue;
          if (!(await write(`${JSON.stringify(letterRecord(letter, reveal))}\n`))) break;
        }
        return 0;
      });
    },
  },
  purge: {
    synopsis: 'purge',
    summary: 'delete the selected dead letters (asks first, unless --yes)',
    details:
      'Deletes the dead letters the filters select (all of them without filters). On a terminal it asks first; ' +
      'anywhere else it needs --yes.',
    flags: {
      ...FILE_FLAG,
      ...FILTER_FLAGS,
      yes: { type: 'boolean', description: 'delete without asking' },
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      noPositionals('purge', positionals);
      const filter = filterOf(values);
      const yes = values['yes'] === true;
      if (!yes && !process.stdin.isTTY) {
        throw new UsageError(
          'dlq purge asks before deleting, and there is no terminal to ask on; add --yes to delete without asking',
        );
      }
      return withStore(
        values,
        async (dlq, path) => {
          const selected = await dlq.count(filter);
          if (selected === 0) {
            await write(
              `no dead letters${isFiltered(filter) ? ' match the filters' : ''} in ${path}; nothing deleted\n`,
            );
            return 0;
          }
          if (!yes && !(await confirm(`delete ${deadLetters(selected)} from ${path}? [y/N] `))) {
            await write('nothing deleted\n');
            return 0;
          }
          const deleted = await purgeDeadLetters(dlq, filter);
          await write(`deleted ${deadLetters(deleted)} from ${path}\n`);
          return 0;
        },
        { write: true },
      );
    },
  },
  replay: {
    synopsis: 'replay <module>',
    summary: "run the selected dead letters through a processor module's handlers again",
    details:
      "Runs the selected dead letters through the processor module's handlers, oldest first failure first. Those " +
      'handled leave the store; those that fail again stay, with one more attempt and the new reason and error. ' +
      'Letters go back to the --dlq file, not to a store the module sets. Prints a summary; exits 0 when the replay ' +
      'ran to the end, whatever became of the letters. Ctrl-C stops reading and finishes what is in flight; letters ' +
      'not read yet stay as they were.',
    flags: {
      ...FILE_FLAG,
      ...FILTER_FLAGS,
      limit: { type: 'string', default: 'every selected letter', description: 'the most letters to replay' },
      threads: {
        type: 'string',
        default: '0',
        description: 'worker threads running handlers; 0 runs them in the main thread',
      },
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0
            ? "dlq replay needs the processor module: missive dlq replay ./processor.js [options]; see 'missive dlq replay --help'"
            : `dlq replay takes one processor module, got ${positionals.length}: ${positionals.join(' ')}`,
        );
      }
      const filter = filterOf(values);
      const threads = intFlag(values, 'threads', 0, 0);
      const limit = values['limit'] === undefined ? undefined : intFlag(values, 'limit', 0, 1);
      const { processor, url } = await loadProcessor(positionals[0]!);
      return withStore(
        values,
        async (dlq) => {
          const stats = await replay({ dlq, processor, moduleUrl: url, filter, limit, threads });
          await write(`${replaySummary(stats)}\n`);
          return 0;
        },
        { write: true, fingerprint: fingerprintOf(processor.name, processor.version) },
      );
    },
  },
  sql: {
    synopsis: 'sql <query>',
    summary: 'run a read-only SQL query on the dead_letters table',
    details:
      'Runs one read-only SQL query (SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW or SUMMARIZE) on the ' +
      'dead_letters table and prints the result as a table (or JSON). Nothing else runs: no second statement, no ' +
      'COPY, EXPORT, ATTACH, INSTALL, LOAD, PRAGMA or SET, no function that reads files or lists directories. The ' +
      'body, error and headers of confidential letters are NULL unless --reveal. For example: ' +
      'missive dlq sql "SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason". On PostgreSQL the query is ' +
      "PostgreSQL's (SELECT, WITH, VALUES or TABLE), run as a role that may read the letters and nothing else, in a " +
      'read-only transaction with a 30 s statement timeout.',
    flags: {
      ...FILE_FLAG,
      ...REVEAL_FLAG,
      json: { type: 'boolean', description: 'print the rows as a JSON array of objects instead' },
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      if (positionals.length !== 1) {
        throw new UsageError('dlq sql takes one query, quoted: missive dlq sql "SELECT count(*) FROM dead_letters"');
      }
      return withStore(values, async (dlq) => {
        const result = await dlq.sql(positionals[0]!, { reveal: values['reveal'] === true });
        if (values['json'] === true) {
          const objects = result.rows.map((row) =>
            Object.fromEntries(result.columns.map((column, i) => [column, row[i]])),
          );
          await write(`${JSON.stringify(objects, null, 2)}\n`);
        } else {
          await write(`${renderRows(result.columns, result.rows)}\n`);
        }
        return 0;
      });
    },
  },
  serve: {
    synopsis: 'serve',
    summary: 'serve a page to browse, chart, replay and purge the dead letters',
    details:
      'Serves a page that charts the dead letters over time by reason, counts them by reason and handler, lists ' +
      'them with filters, shows one in full (confidential ones masked until revealed), and replays (through ' +
      '--processor) or purges the selected or filtered letters. It works while a processor writes to the file, ' +
      'and refreshes by itself. Replay and purge, and revealing a confidential letter, need the token, sent in ' +
      'a header: --token, or one generated at start and printed in the URL (after #token=, which browsers do ' +
      'not send). Reading needs no token from this machine when listening on loopback (the default), else it ' +
      'needs it too. Ctrl-C stops.',
    flags: {
      ...FILE_FLAG,
      port: { type: 'string', default: '8081', description: 'the port to listen on; 0 picks a free one' },
      host: {
        type: 'string',
        default: '127.0.0.1',
        description: 'the address to listen on (127.0.0.1: this machine only)',
      },
      processor: {
        type: 'string',
        description: 'the processor module replays run through; without it the page cannot replay',
      },
      token: {
        type: 'string',
        description: 'the token replay and purge need (give it as MISSIVE_TOKEN); default: generated',
      },
      ...HELP_FLAG,
    },
    run: async (values, positionals) => {
      noPositionals('serve', positionals);
      const path = typeof values['dlq'] === 'string' ? values['dlq'] : DEFAULT_DLQ_PATH;
      if (!isPostgresUrl(path) && !existsSync(resolve(path))) throw new DlqFileMissingError(path);
      return serveCommand(values, path);
    },
  },
};

function overview(): string {
  const width = Math.max(...Object.values(ACTIONS).map((action) => action.synopsis.length)) + 3;
  const lines = Object.values(ACTIONS).map((action) => `  ${action.synopsis.padEnd(width)}${action.summary}`);
  return `Usage: missive dlq <action> [options]

Inspects, exports, purges and replays the dead letters missive run stored in a DuckDB file
(--dlq FILE, default ${DEFAULT_DLQ_PATH}) or a PostgreSQL database (--dlq postgres://user@host:port/db).

Actions:
${lines.join('\n')}

count, list, export, purge and replay take the same filters: --reason R (a prefix when it ends in *),
--handler NAME, --since TIME. Run 'missive dlq <action> --help' for an action's options.

Every action works on a file a running missive run holds: the command asks that process, over a local socket,
and sees every letter committed so far; purge and replay have that process delete and store letters. With
nobody holding the file, the read actions open it read-only (read access is enough) and purge and replay open
it for writing. A PostgreSQL store serves every process itself, while runs write to it.
`;
}

function actionHelp(action: Action): string {
  return `Usage: missive dlq ${action.synopsis} [options]

${wrap(action.details)}

Options:
${describeFlags(action.flags)}

${wrap(ENVIRONMENT_HELP)}

Exit status: 0 on success, 2 on a usage error, 1 when the file is missing, cannot be read, or is locked by a
process that does not answer for it.
`;
}

/**
 * `missive dlq <action>`: resolves with the exit status. A problem with the file (missing, locked, not ours) is
 * reported in one line and exits 1; a usage problem is thrown as a `UsageError` (exit 2).
 */
export async function dlqCommand(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview());
    return name === undefined ? 2 : 0;
  }
  const action = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
  if (!action) {
    throw new UsageError(
      `unknown dlq action '${name}'; the actions are ${Object.keys(ACTIONS).join(', ')} (see missive dlq --help)`,
    );
  }
  const parsed = parseFlags(`dlq ${name}`, rest, action.flags);
  const { positionals } = parsed;
  const values = withEnvironment(parsed.values, action.flags);
  if (values['help'] === true) {
    process.stdout.write(actionHelp(action));
    return 0;
  }
  try {
    return await action.run(values, positionals);
  } catch (error) {
    if (error instanceof MissiveError && !(error instanceof UsageError)) {
      process.stderr.write(`missive: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/**
 * Opens the file `--dlq` names (or reaches the process holding it, see shared-access.ts), runs `body` with it,
 * and closes it. A missing file is an error rather than an empty store: a typo in the path must not look like
 * "no dead letters", nor leave a new file behind.
 */
async function withStore(
  values: FlagValues,
  body: (dlq: SharedStore, path: string) => Promise<number>,
  how: { readonly write?: boolean; readonly fingerprint?: Fingerprint } = {},
): Promise<number> {
  const path = typeof values['dlq'] === 'string' ? values['dlq'] : DEFAULT_DLQ_PATH;
  if (!isPostgresUrl(path) && !existsSync(resolve(path))) throw new DlqFileMissingError(path);
  // Purge and replay change the store: opened for writing when nobody holds it, else done by the holder.
  const dlq = await openSharedStore(path, how);
  try {
    return await body(dlq, redactUrl(path));
  } finally {
    await dlq.close();
  }
}

function noPositionals(action: string, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw new UsageError(
      `dlq ${action} takes no arguments besides options, got: ${positionals.join(' ')}; see 'missive dlq ${action} --help'`,
    );
  }
}

/** The filter from `--reason`, `--handler` and `--since`. */
function filterOf(values: FlagValues): DlqFilter {
  const reason = typeof values['reason'] === 'string' ? values['reason'] : undefined;
  const handler = typeof values['handler'] === 'string' ? values['handler'] : undefined;
  const since = typeof values['since'] === 'string' ? parseSince(values['since'], new Date()) : undefined;
  return {
    ...(reason === undefined ? {} : { reason }),
    ...(handler === undefined ? {} : { handler }),
    ...(since === undefined ? {} : { since }),
  };
}

function deadLetters(n: number): string {
  return n === 1 ? '1 dead letter' : `${n} dead letters`;
}

function isFiltered(filter: DlqFilter): boolean {
  return Object.keys(filter).length > 0;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: an age before `now` (`30m`, `2d`) or an ISO date or date-time. */
function parseSince(raw: string, now: Date): Date {
  const text = raw.trim();
  const age = /^(\d+)\s*([smhdw])$/i.exec(text);
  if (age) return new Date(now.getTime() - Number(age[1]) * UNIT_MS[age[2]!.toLowerCase()]!);
  // Date.parse alone takes odd strings ("1", "May 1"); only ISO 8601 shapes are accepted, so a typo is reported.
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text)
    ? new Date(text)
    : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--since takes an ISO date or time (2024-05-01, 2024-05-01T12:00:00Z) or an age (90s, 30m, 1h, 2d, 1w), got '${raw}'`,
    );
  }
  return date;
}

/** Asks a yes/no question on the terminal; anything but y or yes (or the input ending) is no. */
async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolveAnswer) => {
      prompt.once('close', () => resolveAnswer(''));
      prompt.question(question).then(resolveAnswer, () => resolveAnswer(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

let stdoutClosed = false;
let watchingStdout = false;

/**
 * Writes to stdout, waiting while its buffer is full so a large export stays in bounded memory. Resolves false once
 * the reader has gone away (`missive dlq export | head`), so the caller stops producing instead of crashing on EPIPE.
 */
function write(text: string): Promise<boolean> {
  const stdout = process.stdout;
  if (!watchingStdout) {
    watchingStdout = true;
    stdout.on('error', () => (stdoutClosed = true));
  }
  if (stdoutClosed) return Promise.resolve(false);
  if (stdout.write(text)) return Promise.resolve(true);
  return new Promise((resolveWrite) => {
    const finish = () => {
      stdout.off('drain', finish);
      stdout.off('close', finish);
      stdout.off('error', finish);
      resolveWrite(!stdoutClosed);
    };
    stdout.on('drain', finish);
    stdout.on('close', finish);
    stdout.on('error', finish);
  });
}
