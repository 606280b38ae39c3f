// Line input handed to the workers in blocks of bytes (issue 9), through the real CLI: however the input is cut into
// blocks (--block-bytes), the outcomes and ids are those of one big block, and every guarantee of line input holds.
import t from 'tap';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { fixture, readDeadLetters, readStats, startCli } from './helpers/cli.js';

const PROCESSOR = fixture('block-record-processor.js');
/** How many leading bytes of a line over --max-message-bytes its dead letter keeps (LineAdapterOptions). */
const SAMPLE_BYTES = 1024;
/** A run that takes longer than this is killed and fails its test, instead of hanging the suite. */
const RUN_LIMIT_MS = 90_000;

/**
 * A fresh directory of this process's own, removed after the test. Not t.testdir(): its path is the same in every
 * process running this file, so two test runs at once (two `npm test`) would write each other's inputs.
 */
function scratchDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'missive-block-dispatch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A file's prefix is its path; standard input's a random one per run.
const ID = /^(.+):(\d+)$/;
const idParts = (id) => {
  const match = ID.exec(id);
  return match ? { prefix: match[1], line: Number(match[2]) } : { prefix: `<bad id ${id}>`, line: NaN };
};
/** A body as text where it is UTF-8, else as hex: exact, and readable in a diff. */
const show = (bytes) => (isUtf8(bytes) ? bytes.toString('utf8') : `hex:${bytes.toString('hex')}`);
const byPlace = (a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.line - b.line);
const sortedReasons = (byReason = {}) =>
  Object.fromEntries(Object.entries(byReason).sort(([a], [b]) => (a < b ? -1 : 1)));

// --- inputs ---------------------------------------------------------------------------------------------------

/**
 * One input line: its bytes without the line ending, its ending, and what it is for. `kind` says what the
 * processor does with it when it fits the size limit: `ok` handled, `none` no route, `boom` throws, `bad` does
 * not decode, `blank` skipped.
 */
const jsonLine = (kind, n, pad = '') => ({ kind, text: Buffer.from(JSON.stringify({ type: kind, n, pad })) });

/** Builds the bytes of an input from its lines. */
const bytesOf = (lines) => Buffer.concat(lines.flatMap(({ text, ending }) => [text, Buffer.from(ending)]));

/**
 * What a correct run does with these inputs (in the order given to --input), line by line: blank lines are
 * skipped but counted, a line over `max` bytes (its ending not counted) is a dead letter `message too large` with
 * its first SAMPLE_BYTES bytes, and every other line is handled or dead-lettered by the processor's rules.
 */
function model(inputs, max) {
  const handled = [];
  const letters = [];
  const byReason = {};
  let received = 0;
  for (const { source, lines } of inputs) {
    lines.forEach(({ kind, text }, index) => {
      const line = index + 1;
      if (text.length === 0) return;
      received++;
      let reason;
      if (text.length > max) reason = 'message too large';
      else if (kind === 'ok') return void handled.push({ source, line, body: show(text) });
      else reason = { none: 'no matching handler', boom: 'handler failed', bad: 'decode failed' }[kind];
      byReason[reason] = (byReason[reason] ?? 0) + 1;
      const body = reason === 'message too large' ? text.subarray(0, Math.min(text.length, SAMPLE_BYTES)) : text;
      letters.push({ source, line, reason, body: show(body) });
    });
  }
  return {
    stats: {
      received,
      acked: handled.length,
      nacked: 0,
      deadLettered: letters.length,
      unsettled: 0,
      deadLetteredByReason: sortedReasons(byReason),
    },
    letters: letters.sort(byPlace),
    handled: handled.sort(byPlace),
  };
}

// --- runs -----------------------------------------------------------------------------------------------------

/**
 * Runs `missive run` on the block-record processor and reads back everything it left: exit status, stats, dead
 * letters, and the records of handled messages. `inputs` are written as files, except one named `-`, which is
 * fed to standard input (its source is then `stdin`).
 */
async function run(dir, { inputs, args = [], env = {} }) {
  const dlqPath = join(dir, 'dlq.duckdb');
  const statsPath = join(dir, 'stats.json');
  const recordPath = join(dir, 'records.jsonl');
  writeFileSync(recordPath, '');
  const inputArgs = [];
  let stdin = '';
  for (const input of inputs) {
    if (input.path === '-') stdin = input.bytes;
    else writeFileSync(input.path, input.bytes);
    inputArgs.push('--input', input.path);
  }
  const started = startCli(['run', PROCESSOR, ...inputArgs, '--dlq', dlqPath, '--stats-file', statsPath, ...args], {
    input: stdin,
    env: { RECORD_FILE: recordPath, ...env },
  });
  const limit = setTimeout(() => started.child.kill('SIGKILL'), RUN_LIMIT_MS);
  const result = await started.done;
  clearTimeout(limit);
  return {
    ...result,
    stats: existsSync(statsPath) ? readStats(statsPath) : undefined,
    letters: existsSync(dlqPath) ? await readDeadLetters(dlqPath) : [],
    records: readRecords(recordPath),
  };
}

function readRecords(path) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/**
 * What a run did, in the shape of `model()`, with the id checks that need no model: every id is
 * `<prefix>:<line>`, one prefix per source and a different one for each source, `ctx.delivery.source` is the
 * source and `ctx.delivery.line` the id's line.
 */
function observe(result) {
  const problems = [];
  const prefixes = new Map(); // prefix -> source
  const place = (id, source) => {
    const { prefix, line } = idParts(id);
    if (Number.isNaN(line)) problems.push(`id ${id} is not <prefix>:<line>`);
    const known = prefixes.get(prefix);
    if (known === undefined) prefixes.set(prefix, source);
    else if (known !== source) problems.push(`prefix ${prefix} is used by ${known} and by ${source}`);
    return { source, line };
  };
  const handled = result.records.map(({ id, body, delivery }) => {
    if (delivery?.line !== idParts(id).line) problems.push(`${id}: ctx.delivery.line is ${delivery?.line}`);
    return { ...place(id, delivery?.source), body };
  });
  const letters = result.letters.map((l) => ({ ...place(l.id, l.source), reason: l.reason, body: show(l.body) }));
  const sources = [...prefixes.values()];
  if (new Set(sources).size !== sources.length) problems.push(`a source has more than one prefix: ${[...prefixes]}`);
  const s = result.stats ?? {};
  return {
    code: result.code,
    stats: {
      received: s.received,
      acked: s.acked,
      nacked: s.nacked,
      deadLettered: s.deadLettered,
      unsettled: s.unsettled,
      deadLetteredByReason: sortedReasons(s.deadLetteredByReason),
    },
    letters: letters.sort(byPlace),
    handled: handled.sort(byPlace),
    problems,
    prefixes: [...prefixes.keys()],
  };
}

/** Asserts a run against a model (or another run's observation); `what` names the run in messages. */
function same(t, observed, expected, what, stderr) {
  return [
    t.equal(observed.code, 0, `${what}: exits 0`, { stderr: stderr?.slice(-3000) }),
    t.same(observed.problems, [], `${what}: ids are <prefix>:<line>, one prefix per input`),
    t.same(observed.stats, expected.stats, `${what}: stats (--stats-file)`, { stderr: stderr?.slice(-3000) }),
    t.same(observed.letters, expected.letters, `${what}: dead letters (source, line, reason, body)`),
    t.same(observed.handled, expected.handled, `${what}: handled once each (source, line, body)`),
  ].every(Boolean);
}

// --- 1. any split into blocks, same outcomes ------------------------------------------------------------------

const pad = (maxLength) => fc.string({ unit: fc.constantFrom('x', 'y', 'é', '€', '"', ' '), maxLength });
/** Lines are drawn as plain descriptions (so a failing case prints and saves as JSON), then built with their number. */
const lineArb = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('ok'), pad: pad(50) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('none'), pad: pad(20) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('boom'), pad: pad(20) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('truncated', 'not json', 'binary', 'null') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('blank') }) },
  // Over any limit below: a few hundred bytes, and past the dead letter's sample, ending in 3-byte characters.
  { weight: 1, arbitrary: fc.record({ k: fc.constant('long'), w: fc.integer({ min: 150, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('huge'), w: fc.integer({ min: 1000, max: 2500 }) }) },
);

/** The line a description stands for, `n` being its line number (it is in the JSON, so every body differs). */
function buildLine({ k, pad: p = '', w = 0 }, n) {
  switch (k) {
    case 'ok':
    case 'none':
    case 'boom':
      return jsonLine(k, n, p);
    case 'long':
      return jsonLine('ok', n, 'w'.repeat(w));
    case 'huge':
      return jsonLine('ok', n, `${'w'.repeat(w)}${'€'.repeat(20)}`);
    case 'truncated':
      return { kind: 'bad', text: Buffer.from(`{"type":"ok","n":${n}`) };
    case 'not json':
      return { kind: 'bad', text: Buffer.from(`  not json ${n}  `) };
    case 'binary':
      return { kind: 'bad', text: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(String(n))]) };
    case 'null':
      return { kind: 'none', text: Buffer.from('null') }; // decodes to null: no matcher accepts it
    case 'blank':
      return { kind: 'blank', text: Buffer.alloc(0) };
    default:
      throw new Error(`unknown line kind ${k}`);
  }
}

const caseArb = fc.record({
  lines: fc.array(fc.tuple(lineArb, fc.constantFrom('\n', '\n', '\r\n')), { minLength: 1, maxLength: 60, size: 'max' }),
  lastEnding: fc.constantFrom('', '\n', '\r\n'),
  maxMessageBytes: fc.integer({ min: 40, max: 160 }),
  threads: fc.constantFrom(0, 2, 2),
  viaStdin: fc.boolean(),
  maxInFlight: fc.constantFrom(undefined, undefined, 5),
  maxInFlightBlocks: fc.constantFrom(undefined, undefined, 1),
  // Blocks smaller than a line (down to one byte), and blocks of several lines.
  smallBlock: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 64 })),
  largeBlock: fc.integer({ min: 65, max: 600 }),
});

/** The lines of a case, with their endings; the last one takes `lastEnding`. */
function linesOf(c) {
  const lines = c.lines.map(([description, end], i) => ({ ...buildLine(description, i + 1), ending: end }));
  lines[lines.length - 1].ending = c.lastEnding;
  // An empty last line without an ending is no line at all.
  if (c.lastEnding === '' && lines[lines.length - 1].text.length === 0) lines.pop();
  return lines;
}

const withoutSource = (entries) => entries.map(({ source, ...rest }) => rest);

let caseCount = 0;
/**
 * Runs one case with the default block (a block holds the whole input) and with each of `blockSizes`, at once,
 * each in its own directory, and checks every run against the model and each split run against the one-block run.
 * Resolves false when anything failed.
 */
async function runCase(t, c, blockSizes) {
  const dir = scratchDir(t);
  const lines = linesOf(c);
  const bytes = bytesOf(lines);
  const common = ['--threads', String(c.threads), '--max-message-bytes', String(c.maxMessageBytes)];
  if (c.maxInFlight !== undefined) common.push('--max-in-flight', String(c.maxInFlight));
  if (c.maxInFlightBlocks !== undefined) common.push('--max-in-flight-blocks', String(c.maxInFlightBlocks));
  const describe =
    `case ${++caseCount} (${lines.length} lines, ${bytes.length} bytes, threads ${c.threads}, ` +
    `max ${c.maxMessageBytes}${c.maxInFlight ? `, in flight ${c.maxInFlight}` : ''}` +
    `${c.maxInFlightBlocks ? `, blocks in flight ${c.maxInFlightBlocks}` : ''}, ${c.viaStdin ? 'stdin' : 'a file'})`;
  const runs = await Promise.all(
    [undefined, ...blockSizes].map(async (blockBytes, i) => {
      const runDir = join(dir, `run${i}`);
      mkdirSync(runDir);
      const path = c.viaStdin ? '-' : join(runDir, 'in.jsonl');
      const source = c.viaStdin ? 'stdin' : `file:${path}`;
      const args = blockBytes === undefined ? common : [...common, '--block-bytes', String(blockBytes)];
      const result = await run(runDir, { inputs: [{ path, bytes }], args });
      const what = blockBytes === undefined ? `${describe}, one block` : `${describe}, --block-bytes ${blockBytes}`;
      return { what, result, observed: observe(result), expected: model([{ source, lines }], c.maxMessageBytes) };
    }),
  );
  let ok = true;
  const check = (passed) => (ok &&= passed);
  for (const { what, result, observed, expected } of runs) check(same(t, observed, expected, what, result.stderr));
  const [reference, ...split] = runs;
  for (const { what, observed } of split) {
    // The same as the one-block run, whatever the model says.
    check(t.same(observed.stats, reference.observed.stats, `${what}: the one-block run's stats`));
    check(
      t.same(
        withoutSource(observed.letters),
        withoutSource(reference.observed.letters),
        `${what}: the one-block run's dead letters`,
      ),
    );
    check(
      t.same(
        withoutSource(observed.handled),
        withoutSource(reference.observed.handled),
        `${what}: the one-block run's handled lines`,
      ),
    );
  }
  return ok;
}

/** Runs a property over `caseArb`; a failure is reported with its seed and path, and saved as JSON. */
async function checkProperty(t, numRuns, predicate) {
  const details = await fc.check(
    fc.asyncProperty(caseArb, (c) => predicate(c)),
    {
      numRuns: Number(process.env.BLOCK_RUNS ?? numRuns),
      seed: process.env.BLOCK_SEED === undefined ? undefined : Number(process.env.BLOCK_SEED),
      path: process.env.BLOCK_PATH,
      // A CLI run takes about a second: shrinking a failure would take minutes. BLOCK_SHRINK=1 shrinks.
      endOnFailure: process.env.BLOCK_SHRINK !== '1',
    },
  );
  if (!details.failed) return;
  const saved = join(tmpdir(), `block-dispatch-failure-${process.pid}-${Date.now()}.json`);
  writeFileSync(saved, `${JSON.stringify(details.counterexample?.[0], null, 1)}\n`);
  t.fail(
    `failed after ${details.numRuns} cases; rerun with BLOCK_SEED=${details.seed} BLOCK_PATH=${details.counterexamplePath}` +
      ` (add BLOCK_SHRINK=1 to shrink); the case is in ${saved}`,
    { error: String(details.errorInstance?.message ?? '').slice(0, 2000) },
  );
}

t.test('any split into blocks (--block-bytes) gives the outcomes and ids of one big block', async (t) => {
  await checkProperty(t, 8, (c) => runCase(t, c, [c.smallBlock, c.largeBlock]));
});

// --- 2. a line longer than three blocks -------------------------------------------------------------------------

t.test('a line longer than three blocks is one dead letter "message too large"; the next line is intact', async (t) => {
  const variants = [
    {
      name: '500 bytes, 64-byte blocks, a file, 2 threads',
      size: 500,
      blockBytes: 64,
      end: '\n',
      threads: 2,
      stdin: false,
    },
    {
      name: '3000 bytes, 64-byte blocks, CRLF, stdin, inline',
      size: 3000,
      blockBytes: 64,
      end: '\r\n',
      threads: 0,
      stdin: true,
    },
    {
      name: '500 bytes, 1-byte blocks, CRLF, a file, 2 threads',
      size: 500,
      blockBytes: 1,
      end: '\r\n',
      threads: 2,
      stdin: false,
    },
  ];
  for (const v of variants) {
    t.test(v.name, async (t) => {
      const dir = scratchDir(t);
      // Seven short lines (not a multiple of the block size), the long one, then the line after it and more.
      const lines = [];
      for (let n = 1; n <= 7; n++) lines.push(jsonLine('ok', n));
      lines.push({ kind: 'blank', text: Buffer.alloc(0) });
      const long = jsonLine('ok', 9, '');
      long.text = Buffer.from(JSON.stringify({ type: 'ok', n: 9, pad: 'L'.repeat(v.size - long.text.length) }));
      t.equal(long.text.length, v.size);
      lines.push(long);
      lines.push(jsonLine('ok', 10, 'right after the long line'));
      for (let n = 11; n <= 20; n++) lines.push(jsonLine('ok', n));
      for (const line of lines) line.ending = v.end;
      const path = v.stdin ? '-' : join(dir, 'in.jsonl');
      const result = await run(dir, {
        inputs: [{ path, bytes: bytesOf(lines) }],
        args: ['--threads', String(v.threads), '--block-bytes', String(v.blockBytes), '--max-message-bytes', '100'],
      });
      t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
      t.equal(result.letters.length, 1, 'exactly one dead letter');
      const [letter] = result.letters;
      const prefix = idParts(result.records[0]?.id ?? '').prefix;
      t.equal(letter?.id, `${prefix}:9`, 'its id is <prefix>:<its line>, the prefix of the other lines');
      t.equal(letter?.reason, 'message too large');
      t.equal(letter?.source, v.stdin ? 'stdin' : `file:${path}`);
      t.same(letter?.body, long.text.subarray(0, Math.min(v.size, SAMPLE_BYTES)), 'its body is its first bytes');
      const after = result.records.find((r) => r.id === `${prefix}:10`);
      t.equal(after?.body, lines[9].text.toString(), 'the line after it is intact and has its own line number');
      t.same(
        result.records.map((r) => idParts(r.id).line).sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
        'every other line was handled once, with its line number',
      );
      for (const r of result.records)
        t.equal(r.body, lines[idParts(r.id).line - 1].text.toString(), `line ${idParts(r.id).line} body`);
      t.equal(result.stats?.received, 19, 'received counts the long line, not the blank one');
      t.equal(result.stats?.acked, 18);
      t.same(result.stats?.deadLetteredByReason, { 'message too large': 1 });
    });
  }
});

// --- 3. a worker-killing handler in the middle of a block -------------------------------------------------------

t.test(
  'a handler that kills its worker in the middle of a block: one dead letter, every other line handled once',
  async (t) => {
    const variants = [
      { name: '4 KiB blocks of ~130 lines', blockBytes: 4096 },
      { name: 'the default block (the whole input in one)', blockBytes: undefined },
    ];
    for (const v of variants) {
      t.test(v.name, async (t) => {
        const dir = scratchDir(t);
        const total = 6000;
        const lines = Array.from({ length: total }, (_, i) => jsonLine('ok', i + 1));
        // The killer: a line half-way into the file, half-way into a 4 KiB stretch of it.
        let offset = 0;
        let killLine = 0;
        for (let i = 0; i < total; i++) {
          if (i > total / 2 && offset % 4096 >= 1800 && offset % 4096 <= 2300) {
            killLine = i + 1;
            break;
          }
          offset += lines[i].text.length + 1;
        }
        lines[killLine - 1] = jsonLine('kill', killLine);
        for (const line of lines) line.ending = '\n';
        const path = join(dir, 'in.jsonl');
        const args = ['--threads', '2'];
        if (v.blockBytes !== undefined) args.push('--block-bytes', String(v.blockBytes));
        const result = await run(dir, { inputs: [{ path, bytes: bytesOf(lines) }], args });
        t.equal(result.code, 0, 'exits 0', { stderr: result.stderr.slice(-3000) });
        const { stats, letters, records } = result;
        t.equal(stats?.received, total);
        t.equal(stats?.acked, total - 1);
        t.equal(stats?.deadLettered, 1);
        t.equal(stats?.acked + stats?.deadLettered, stats?.received, 'received = acked + dead-lettered');
        t.same(stats?.deadLetteredByReason, { 'worker exited': 1 });
        t.equal(letters.length, 1, 'exactly one dead letter');
        const prefix = idParts(records[0]?.id ?? '').prefix;
        t.equal(letters[0]?.id, `${prefix}:${killLine}`, `it is line ${killLine}`);
        t.equal(letters[0]?.reason, 'worker exited');
        t.equal(letters[0]?.handler, 'killer');
        t.equal(letters[0]?.body.toString(), lines[killLine - 1].text.toString());
        const handled = records.map((r) => idParts(r.id).line);
        t.equal(handled.length, total - 1, 'every other line was handled once: no line ran twice');
        t.equal(new Set(handled).size, handled.length, 'no line recorded twice');
        const missing = [];
        const seen = new Set(handled);
        for (let line = 1; line <= total; line++) if (line !== killLine && !seen.has(line)) missing.push(line);
        t.same(missing, [], 'none missing');
        t.notOk(seen.has(killLine), 'the killer was not recorded');
        t.equal(
          records.filter((r) => r.body !== lines[idParts(r.id).line - 1].text.toString()).length,
          0,
          'every body belongs to its line',
        );
        t.equal(new Set(records.map((r) => idParts(r.id).prefix)).size, 1, 'one prefix');
      });
    }
  },
);

// --- 4. SIGTERM in the middle of a block ------------------------------------------------------------------------

/** Resolves once the record file has `count` lines; rejects if the run ends first or `timeoutMs` passes. */
async function waitForRecords(started, path, count, timeoutMs = 30_000) {
  let ended = false;
  started.done.then(() => (ended = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
    if (lines >= count) return lines;
    if (ended)
      throw new Error(
        `the run ended with ${lines} records, before ${count}: ${JSON.stringify(started.output()).slice(-2000)}`,
      );
    if (Date.now() > deadline) throw new Error(`fewer than ${count} records after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('SIGTERM in the middle of a block: exit 0, the figures add up, no line handled twice', async (t) => {
  // SPIN_MS: handlers hold their thread 1 ms a message, so a block of hundreds of lines is being worked through
  // when the signal arrives. HANDLE_MS: handlers wait (I/O-bound, what --threads 0 is for), so a block's lines
  // are all in flight at once.
  const variants = [
    {
      name: '16 KiB blocks, a file, 2 threads, handlers holding their thread',
      blockBytes: 16384,
      threads: 2,
      stdin: false,
      env: { SPIN_MS: '1' },
    },
    {
      name: '8 KiB blocks, a file, inline, handlers holding the thread',
      blockBytes: 8192,
      threads: 0,
      stdin: false,
      env: { SPIN_MS: '1' },
    },
    {
      name: '8 KiB blocks, stdin, inline, handlers waiting 100 ms',
      blockBytes: 8192,
      threads: 0,
      stdin: true,
      env: { HANDLE_MS: '100' },
    },
  ];
  for (const v of variants) {
    t.test(v.name, async (t) => {
      const dir = scratchDir(t);
      const total = 40_000;
      const lines = Array.from({ length: total }, (_, i) => ({ ...jsonLine('ok', i + 1), ending: '\n' }));
      const path = v.stdin ? '-' : join(dir, 'in.jsonl');
      const dlqPath = join(dir, 'dlq.duckdb');
      const statsPath = join(dir, 'stats.json');
      const recordPath = join(dir, 'records.jsonl');
      const bytes = bytesOf(lines);
      if (!v.stdin) writeFileSync(path, bytes);
      const started = startCli(
        [
          'run',
          PROCESSOR,
          '--input',
          path,
          '--threads',
          String(v.threads),
          '--block-bytes',
          String(v.blockBytes),
          '--dlq',
          dlqPath,
          '--stats-file',
          statsPath,
        ],
        { input: v.stdin ? bytes : '', env: { RECORD_FILE: recordPath, ...v.env } },
      );
      const limit = setTimeout(() => started.child.kill('SIGKILL'), RUN_LIMIT_MS);
      t.teardown(() => clearTimeout(limit));
      try {
        await waitForRecords(started, recordPath, 300);
      } catch (error) {
        started.child.kill('SIGKILL');
        await started.done;
        throw error;
      }
      started.child.kill('SIGTERM');
      const result = await started.done;
      t.equal(result.code, 0, 'exits 0 (README: Shutdown)', { stderr: result.stderr.slice(-3000) });
      t.match(result.stderr, /SIGTERM: stopping/);
      const stats = readStats(statsPath);
      t.ok(stats.received > 0 && stats.received < total, `stopped reading part-way (${stats.received} of ${total})`);
      t.equal(
        stats.acked + stats.deadLettered + stats.unsettled + stats.nacked,
        stats.received,
        `received = acked + dead-lettered + unsettled + nacked (${JSON.stringify(stats)})`,
      );
      const records = readRecords(recordPath);
      const handled = records.map((r) => idParts(r.id).line);
      t.equal(new Set(handled).size, handled.length, 'no line handled twice');
      t.ok(
        handled.every((line) => line >= 1 && line <= total),
        'every record is a line of the input',
      );
      t.ok(
        records.length >= stats.acked && records.length <= stats.acked + stats.unsettled,
        `every acked line was handled (${records.length} handled, ${stats.acked} acked, ${stats.unsettled} unsettled)`,
      );
      const letters = existsSync(dlqPath) ? await readDeadLetters(dlqPath) : [];
      t.equal(letters.length, stats.deadLettered, 'one stored letter per dead letter counted');
      t.same(
        [...new Set(letters.map((l) => l.reason))].filter((r) => r !== 'nacked'),
        [],
        'only lines handed back are stored',
      );
      const handledSet = new Set(records.map((r) => r.id));
      t.same(
        letters.filter((l) => handledSet.has(l.id)).map((l) => l.id),
        [],
        'no line both handled and stored',
      );
    });
  }
});

// --- 5. several --input files -----------------------------------------------------------------------------------

t.test(
  'several --input files: ids <prefix>:<line> with line numbers per file, source file:<path>, a prefix per file',
  async (t) => {
    const variants = [
      { name: 'default block, 2 threads', blockBytes: undefined, threads: 2 },
      { name: '7-byte blocks, 2 threads', blockBytes: 7, threads: 2 },
      { name: '100-byte blocks, inline', blockBytes: 100, threads: 0 },
    ];
    for (const v of variants) {
      t.test(v.name, async (t) => {
        const dir = scratchDir(t);
        const withEnding = (end) => (line) => ({ ...line, ending: end });
        const blank = { kind: 'blank', text: Buffer.alloc(0) };
        const a = [jsonLine('ok', 1), blank, jsonLine('ok', 3), jsonLine('none', 4), jsonLine('ok', 5)].map(
          withEnding('\n'),
        );
        const s = [jsonLine('ok', 1), jsonLine('boom', 2), blank, jsonLine('ok', 4)].map(withEnding('\n'));
        const b = [
          blank,
          blank,
          jsonLine('ok', 3),
          { kind: 'bad', text: Buffer.from('{nope') },
          jsonLine('ok', 5, 'x'.repeat(30)),
          jsonLine('ok', 6),
        ].map(withEnding('\r\n'));
        b[b.length - 1].ending = ''; // the last line of b has no newline
        const c = [jsonLine('ok', 1, 'y'.repeat(200)), jsonLine('ok', 2), blank, jsonLine('ok', 4)].map(
          withEnding('\n'),
        );
        const inputs = [
          { path: join(dir, 'a.jsonl'), lines: a },
          { path: '-', lines: s },
          { path: join(dir, 'b.jsonl'), lines: b },
          { path: join(dir, 'c.jsonl'), lines: c },
        ].map((input) => ({
          ...input,
          bytes: bytesOf(input.lines),
          source: input.path === '-' ? 'stdin' : `file:${input.path}`,
        }));
        const args = ['--threads', String(v.threads), '--max-message-bytes', '100'];
        if (v.blockBytes !== undefined) args.push('--block-bytes', String(v.blockBytes));
        const result = await run(dir, { inputs, args });
        const observed = observe(result);
        same(t, observed, model(inputs, 100), v.name, result.stderr);
        t.equal(observed.prefixes.length, 4, 'four inputs, four prefixes');
        t.equal(new Set(observed.prefixes).size, 4, 'every input has its own prefix');
        t.same(
          observed.handled.filter((h) => h.source === `file:${inputs[2].path}`).map((h) => h.line),
          [3, 5, 6],
          'line numbers count from 1 in each file, blank lines included',
        );
      });
    }
  },
);
