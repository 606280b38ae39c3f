// Where and how the README test runs the README's commands: in a copy of the repository (the README's commands write
// ./missive-dlq.duckdb, dead.jsonl, webhook-secret and the example modules into the current directory, and the
// real checkout must not get them), with `npx missive` resolved to the local CLI.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

// Created by the README's own commands, or by a developer's runs in the checkout: never copied. node_modules is left
// out too: the copy sits inside the checkout, so its files find the installed packages one level up, and nothing a
// command in the copy does can change the installed set.
const LEFT_OUT = new Set([
  '.git',
  '.tap',
  'node_modules',
  'README.md',
  'dead.jsonl',
  'webhook-secret',
  'main.js',
  'processor.js',
  'my-adapter.js',
]);

/**
 * A copy of the repository in `dir` (which the test puts inside the repository, so `missive-node` resolves to the
 * copy's own package by self-reference): every file, dist/ included, except the files the README creates. Whatever
 * a README command writes (a build, bench results, an example placed next to examples/orders/processor.js) lands in
 * the copy, never in the checkout that other tests are reading.
 *
 * Its `bin/npx` runs `npx missive ...` as the copy's `node dist/cli/main.js ...`: the README says `npx missive`
 * because that is what a user types; the test must not depend on the network or on npx's cache, and the command it
 * stands for is this package's CLI. `npx TOOL` runs the installed node_modules/.bin/TOOL, as npx does on a clone
 * after `npm ci`; anything else fails, so a use of npx that would need the network is noticed. Its `bin/npm`
 * refuses `npm ci`, `npm install` and `npm test` whatever the README's notes say (installing is CI's job, in
 * .ci/run, and `npm test` would run this test again) and passes every other npm command on.
 */
export function repositoryCopy(dir) {
  for (const name of readdirSync(REPO)) {
    if (LEFT_OUT.has(name) || /\.duckdb(\.wal)?$/.test(name)) continue;
    cpSync(join(REPO, name), join(dir, name), { recursive: true, verbatimSymlinks: true });
  }
  const bin = join(dir, '.readme-bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'npx'),
    `#!/bin/sh\nif [ "$1" = missive ]; then shift; exec "${process.execPath}" "${join(dir, 'dist/cli/main.js')}" "$@"; fi\n` +
      `if [ -x "${REPO}/node_modules/.bin/$1" ]; then tool="$1"; shift; exec "${REPO}/node_modules/.bin/$tool" "$@"; fi\n` +
      'echo "README test: npx $1 is neither missive nor an installed tool (npx would fetch it)" >&2\nexit 127\n',
  );
  chmodSync(join(bin, 'npx'), 0o755);
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(bin, 'npm'),
    '#!/bin/sh\ncase "$1" in ci|install|i|add|test|t|uninstall|update) ' +
      'echo "README test: npm $1 is not run from the README test" >&2; exit 126;; esac\n' +
      `exec "${npm}" "$@"\n`,
  );
  chmodSync(join(bin, 'npm'), 0o755);
  // The commands run as written: a MISSIVE_* variable in the test's own environment would be a flag they do not show.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MISSIVE_')));
  return { dir, env: { ...env, PATH: `${bin}:${process.env.PATH}` } };
}

/** Writes `text` to `path` in the copy. */
export function writeInCopy(copy, path, text) {
  const file = join(copy.dir, path);
  mkdirSync(dirname(file), { recursive: true });
  rmSync(file, { force: true });
  writeFileSync(file, text);
}

/**
 * Starts `script` with bash in the copy, in a process group of its own (as a terminal starts a command, so a
 * Ctrl-C can be sent to the whole group). Resolves `done` with `{ code, signal, stdout, stderr }`.
 */
export function startShell(copy, script, { input } = {}) {
  const child = spawn('bash', ['-o', 'pipefail', '-c', script], {
    cwd: copy.dir,
    env: copy.env,
    detached: true,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  if (input !== undefined) child.stdin.end(input);
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

export const runShell = (copy, script, options) => startShell(copy, script, options).done;

/** Ctrl-C, as a terminal sends it: SIGINT to the whole process group. */
export function interrupt(started) {
  try {
    process.kill(-started.child.pid, 'SIGINT');
  } catch {}
}

/** Ends a group the test started and that is still there (a teardown after a failed assertion). */
export function killGroup(started) {
  try {
    process.kill(-started.child.pid, 'SIGKILL');
  } catch {}
}

/** Runs `node file` in the copy; resolves `{ code, stdout, stderr }`. */
export function runNode(copy, file, args = []) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], {
      cwd: copy.dir,
      env: copy.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
