#!/usr/bin/env node
/**
 * The `missive` command. Exit status: 0 on success, 2 on a usage error (reported before any input is read),
 * 1 when a run fails.
 */
import { MissiveError, UsageError, describe } from '../errors.js';
import { VERSION } from '../dlq/fingerprint.js';
import { runCommand } from './run-command.js';

const HELP = `Usage: missive <command> [options]

Commands:
  run <module>   run messages from a transport through a processor module's handlers
  dlq <action>   inspect, replay, export and purge dead letters (count, list, show, replay, purge, export)

Run 'missive <command> --help' for a command's options.
`;

type Command = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => runCommand,
  dlq: async () => (await import('./dlq-command.js')).dlqCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load)
    throw new UsageError(
      `unknown command '${name}'; the commands are ${Object.keys(COMMANDS).join(', ')} (see missive --help)`,
    );
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (status) => exit(status),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`missive: ${error.message}\n`);
      exit(2);
    } else {
      // Our own errors say what happened and what to do; a stack is for what nobody foresaw.
      const known = error instanceof MissiveError;
      process.stderr.write(
        `missive: ${!known && error instanceof Error && error.stack ? error.stack : describe(error)}\n`,
      );
      exit(1);
    }
  },
);

// Exit explicitly: an open stdin or a broker socket must not keep a finished run alive. stderr is flushed first.
function exit(status: number): void {
  process.exitCode = status;
  process.stderr.write('', () => process.stdout.write('', () => process.exit(status)));
}
