// Runs the real `missive` CLI as a child process.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DuckDbDlq } from '../../dist/dlq/duckdb.js';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const fixture = (name) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** Starts the CLI; `input` (string or Buffer) is written to stdin and stdin closed, unless `keepStdinOpen`. */
export function startCli(args, { input, env, keepStdinOpen = false, cwd } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.on('error', () => {}); // the CLI may exit before reading all of its input
  if (input !== undefined) child.stdin.write(input);
  if (!keepStdinOpen) child.stdin.end();
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

export function runCli(args, options) {
  return startCli(args, options).done;
}

/** Resolves once the child's stderr or stdout matches `pattern`. */
export function waitForOutput(started, pattern, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no output matching ${pattern} in ${timeoutMs} ms: ${JSON.stringify(started.output())}`)),
      timeoutMs,
    );
    const check = () => {
      const { stdout, stderr } = started.output();
      if (pattern.test(stdout) || pattern.test(stderr)) {
        clearTimeout(timer);
        started.child.stdout.off('data', check);
        started.child.stderr.off('data', check);
        resolve();
      }
    };
    started.child.stdout.on('data', check);
    started.child.stderr.on('data', check);
    check();
  });
}

/** The figures a run wrote with --stats-file. */
export function readStats(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Every dead letter in a DuckDB file, oldest first; the file is closed again, so a later run can open it. */
export async function readDeadLetters(path) {
  const dlq = await DuckDbDlq.open(path);
  try {
    return await dlq.list({ limit: 1_000_000 });
  } finally {
    await dlq.close();
  }
}

/** Whether script(1) is there to give the CLI a real terminal. */
export function hasScript() {
  return spawnSync('script', ['--version']).status === 0;
}

/** Starts the CLI on a terminal of its own (script(1)): what `child` is written goes to the CLI as typed input. */
export function startCliOnTerminal(args, { env } = {}) {
  const command = [process.execPath, CLI, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stdin.on('error', () => {});
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout })));
  return { child, done, output: () => ({ stdout, stderr: '' }) };
}
