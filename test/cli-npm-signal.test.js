// Ctrl-C under npm: the terminal signals the whole process group. A script that starts missive with `exec` (as
// `npm start` does) drains and npm exits 0. Real npm, a real process group, a real SIGINT.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, fixture } from './helpers/cli.js';

t.test('npm run of an exec script: one Ctrl-C to the group drains, and npm exits 0', async (t) => {
  const dir = t.testdir();
  const command = `exec node ${CLI} run ${fixture('slow-processor.js')} --threads 0 --dlq ${join(dir, 'd.duckdb')}`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'signal-probe', version: '1.0.0', scripts: { start: command } }),
  );
  // detached: a process group of its own, as a terminal gives a command it runs.
  const child = spawn('npm', ['run', '-s', 'start'], {
    cwd: dir,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SLOW_MS: '200' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.write('a\nb\n'); // stdin stays open: only the signal ends the run
  t.teardown(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  });
  const deadline = Date.now() + 20_000;
  while (!/"msg":"running"/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 100));
  process.kill(-child.pid, 'SIGINT');
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  t.equal(signal, null);
  t.equal(code, 0, 'npm exits 0', { stderr: stderr.slice(-2000) });
  t.match(stderr, /2 received · 2 acked/, 'after the messages in flight were finished');
});
