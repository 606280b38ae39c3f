// On a terminal a log line never sticks to the progress display: each clears the line it starts on. Through the
// real CLI in a pseudo-terminal (script(1)).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI, fixture } from './helpers/cli.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
const quote = (arg) => `'${arg.replaceAll("'", "'\\''")}'`;

t.test(
  'a log line after the progress display starts on a cleared line',
  { skip: hasScript ? false : 'needs script(1) for a terminal' },
  async (t) => {
    const dir = t.testdir();
    // The input arrives after the first progress draw (a second after the run starts, which takes up to a second or
    // two on a loaded machine: DuckDB opens the store first), so the dead letter's line comes after it.
    const run = [
      process.execPath,
      CLI,
      'run',
      fixture('versioned-processor.js'),
      '--threads',
      '0',
      '--dlq',
      join(dir, 'd.duckdb'),
    ]
      .map(quote)
      .join(' ');
    const result = spawnSync('script', ['-qec', `sh -c 'sleep 3.5; echo nobody; sleep 0.3' | ${run}`, '/dev/null'], {
      encoding: 'utf8',
    });
    t.equal(result.status, 0, result.stderr);
    const out = result.stdout;
    const progress = out.indexOf('msg/s');
    const warning = out.indexOf('WARN');
    t.ok(progress >= 0 && warning > progress, 'the progress display came first, then the warning');
    const between = out.slice(out.lastIndexOf('in flight', warning), warning);
    t.match(between, /\r\x1b\[K/, 'the warning clears the progress line before it is written');
  },
);
