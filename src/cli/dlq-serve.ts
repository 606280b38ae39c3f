import { fingerprintOf } from '../dlq/fingerprint.js';
import { redactUrl } from '../dlq/postgres/postgres-url.js';
import { servePage } from '../serve/server.js';
import { checkServeOptions, isLoopbackHost } from '../serve/options.js';
import type { FlagValues } from './flags.js';
import { loadProcessor } from './load-processor.js';
import { createLogger } from './logger.js';

const text = (values: FlagValues, name: string) =>
  typeof values[name] === 'string' ? (values[name] as string) : undefined;

/**
 * `missive dlq serve`: checks the options and loads the processor before listening (so a mistake exits 2 before
 * anything is served), prints the page's URL, and serves until SIGINT or SIGTERM.
 */
export async function serveCommand(values: FlagValues, path: string): Promise<number> {
  const options = checkServeOptions({
    dlq: path,
    port: text(values, 'port'),
    host: text(values, 'host'),
    token: text(values, 'token'),
    processor: text(values, 'processor'),
  });
  const processor = options.processor === undefined ? undefined : await loadProcessor(options.processor);
  // Letters that fail again during a replay are logged as missive dlq replay logs them: warnings, on stderr.
  const log = processor
    ? (await createLogger('warn', fingerprintOf(processor.processor.name, processor.processor.version))).log
    : undefined;
  const page = await servePage(options, { ...(processor ? { processor } : {}), ...(log ? { log } : {}) });
  const reads = isLoopbackHost(options.host)
    ? 'reading needs no token from this machine'
    : `listening beyond this machine: reading needs the token too`;
  process.stdout.write(`missive: serving the dead letters of ${redactUrl(path)} at ${page.url}\n`);
  process.stderr.write(
    `missive: replay and purge need the token (${options.token === undefined ? 'generated, in the URL after #token=' : 'the one given'}); ` +
      `${reads}; ${processor ? `replays go through ${options.processor}` : 'give --processor ./processor.js to replay'}; Ctrl-C stops\n`,
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`missive: ${signal}: stopping the page\n`);
  await page.close();
  return 0;
}
