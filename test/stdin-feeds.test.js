// The same input fed the ways users feed it: `--input file`, a redirect (`< file`), `cat file |`, and a pipe written
// in random-sized pieces with pauses between them. Standard input is read by its own descriptor (a regular file by
// blocks, a pipe by the PipeReader), so each way must give the same outcomes for the same lines: the same counts, and
// the same dead letters with the same reasons at the same line numbers.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CLI, fixture, readDeadLetters, readStats, startCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'missive-feeds-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Every kind of line the splitter and the router must tell apart, many times over, so the input spans several blocks
// of the small --block-bytes below and lines fall across reads and blocks.
const KINDS = [
  () => '{"type":"ok","n":1}',
  () => '{"type":"boom"}',
  () => '{"type":"twice"}',
  () => '{"type":"ok", broken',
  () => '',
  () => '{"type":"ok","crlf":true}\r',
  () => `{"type":"ok","pad":"${'x'.repeat(300)}"}`,
  () => '{"type":"none"}',
];
const lines = [];
for (let i = 0; i < 6000; i++) lines.push(KINDS[(i * 7) % KINDS.length]());
lines.push(`{"type":"ok","big":"${'y'.repeat(5000)}"}`); // over --max-message-bytes
lines.push('{"type":"ok","last":"no newline"}');
const input = join(dir, 'input.jsonl');
const text = lines.join('\n');
writeFileSync(input, text);

const common = (name) => [
  'run',
  fixture('routing-processor.js'),
  '--threads',
  '2',
  '--block-bytes',
  '16384',
  '--max-message-bytes',
  '4096',
  '--dlq',
  join(dir, `${name}.duckdb`),
  '--stats-file',
  join(dir, `${name}.json`),
  '--quiet',
];

/** Runs a feed to its end; resolves with its exit code. */
function exited(child) {
  return new Promise((resolve) => child.on('close', (code) => resolve(code)));
}

const feeds = {
  input: () => exited(spawn(process.execPath, [CLI, ...common('input'), '--input', input], { stdio: 'ignore' })),
  redirect: async () => {
    const fd = openSync(input, 'r');
    try {
      return await exited(spawn(process.execPath, [CLI, ...common('redirect')], { stdio: [fd, 'ignore', 'ignore'] }));
    } finally {
      closeSync(fd);
    }
  },
  cat: () =>
    exited(
      spawn('bash', ['-c', 'cat "$0" | "$1" "$2" "${@:3}"', input, process.execPath, CLI, ...common('cat')], {
        stdio: 'ignore',
      }),
    ),
  pieces: async () => {
    const started = startCli(common('pieces'), { keepStdinOpen: true });
    const bytes = Buffer.from(text);
    // Pieces from 1 byte to 40 KiB, some followed by a pause longer than the reader's wait for a quiet writer.
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let at = 0; at < bytes.length;) {
      const size = Math.max(1, Math.floor(random() ** 3 * 40960));
      const piece = bytes.subarray(at, at + size);
      at += piece.length;
      if (!started.child.stdin.write(piece)) await new Promise((resolve) => started.child.stdin.once('drain', resolve));
      if (random() < 0.05) await new Promise((resolve) => setTimeout(resolve, 12));
    }
    started.child.stdin.end();
    return (await started.done).code;
  },
};

/** A run's figures and its dead letters as `line reason`, by line number (ids differ by prefix, not by line). */
async function outcome(name) {
  const { received, acked, nacked, deadLettered } = readStats(join(dir, `${name}.json`));
  const letters = await readDeadLetters(join(dir, `${name}.duckdb`));
  const byLine = letters
    .map((l) => `${Number(l.id.slice(l.id.lastIndexOf(':') + 1))} ${l.reason}`)
    .sort((a, b) => parseInt(a) - parseInt(b));
  return { received, acked, nacked, deadLettered, letters: byLine };
}

const results = {};
for (const [name, feed] of Object.entries(feeds)) {
  t.test(`fed by ${name}`, async (t) => {
    // Exit 0 when every line settles; dead letters are settled lines.
    t.equal(await feed(), 0, `${name}: exit 0`);
    results[name] = await outcome(name);
  });
}

t.test('every feed gives the same outcomes', async (t) => {
  const reference = results.input;
  t.ok(reference, 'the --input run finished');
  // The input's own line count, blank lines included in numbering but not received.
  t.equal(reference.received, lines.filter((l) => l.length > 0).length, 'every non-blank line was received');
  t.ok(
    reference.letters.some((l) => l.endsWith('message too large')),
    'the long line is a dead letter',
  );
  t.ok(reference.letters.length > 1000, 'the bad lines are dead letters');
  for (const name of ['redirect', 'cat', 'pieces']) t.same(results[name], reference, `${name} matches --input`);
});
