// The README is the front door: every command and snippet in it must run as written on a fresh clone. This runs
// each fenced block of README.md, in order, in one copy of the repository (the README's commands build on each
// other: `npm start` leaves the dead letters the `missive dlq` commands read), and checks what the README says each
// one does and prints. `npx missive` is resolved to this checkout's CLI (see readme-shell.js), so no network and
// no npx cache are needed. A `<!-- readme: ... -->` comment above a block says how to run it where running it
// as-is is not enough. What this test reads in one:
//   runs until Ctrl-C           its `missive run` commands are started, fed, sent SIGINT, and must exit 0
//   feeds the --adapter X runs above     run while each of those commands runs; a shell feeder's trailing
//                               comment lines are what it prints
//   not run here: A, B (why)    the commands A and B of the block are left out, for the reason given
//   output of COMMAND above     a block that is not code: what COMMAND printed (measurements may differ)
//   fragment, with the imports of FILE above    a few lines of the module FILE: run after its imports
//   runs as PATH                the program is put at PATH in the repository (next to what it imports)
//   run with: COMMAND           a module the README uses with COMMAND (an adapter, say): run that
//   prints "TEXT"               the block's output contains TEXT
//   exits N                     the status the README documents, instead of 0
//   needs redis|rabbitmq|nats   a server the block needs beyond what its --adapter says
// A block with none runs as written: a shell block command by command from the copy's root, each exiting 0; a
// JavaScript block named in its first line (`// processor.js`) is that file, imported if it exports, else run; an
// unnamed one is a program run with node. A comment after a statement that states a value (`x; // 1`) is checked.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { looseLine, moduleName, printsOf, readmeBlocks, shellCommands, shownOutput } from './helpers/readme-blocks.js';
import { withClaimsChecked } from './helpers/readme-claims.js';
import { needServers, portTaken, serversFor } from './helpers/readme-brokers.js';
import {
  REPO,
  interrupt,
  killGroup,
  repositoryCopy,
  runNode,
  runShell,
  startShell,
  writeInCopy,
} from './helpers/readme-shell.js';

const blocks = readmeBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'));
// t.testdir() is under .tap/ in the repository: a temporary place from which `missive-node` still resolves to
// this package, as it does for a user's file next to an installed one.
const copy = repositoryCopy(t.testdir());
const outputs = new Map(); // a command as written (without its comment) -> what it printed
const modules = new Map(); // a module's file name -> its block
const fed = new Set(); // lines of the blocks that fed a running command
const notFed = new Map(); // lines of feeders whose command was skipped -> why

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const JS = new Set(['js', 'javascript', 'mjs']);
const withoutComment = (command) => command.replace(/\s+#.*$/, '').trim();
const shown = (result) => ({
  code: result.code,
  signal: result.signal,
  stdout: result.stdout.slice(-3000),
  stderr: result.stderr.slice(-3000),
});
const expectedStatus = (note) => Number(/\bexits (\d+)/.exec(note)?.[1] ?? 0);

// The checks below pass only if they can fail: a wrong value comment, a rejection claimed of a statement that
// resolves, a summary with other counts.
await t.test('the checks this test makes of the README can fail', async (t) => {
  const wrong = { code: 'const n = 1 + 1;\nn; // 3\n', line: 1 }; // a fence on line 1: the claim is on line 3
  const { result } = await runChecked('readme-self-check-value.js', wrong);
  t.not(result.code, 0, 'a wrong value comment fails the program');
  t.match(result.stderr, /README\.md:3 claims 3 but the value is 2/);
  const resolves = {
    code: "await Promise.resolve({ outcome: 'acked' }).catch((error) => error); // rejects\n",
    line: 1,
  };
  t.not((await runChecked('readme-self-check-rejects.js', resolves)).result.code, 0, 'a "rejects" that resolves fails');
  const partial = { code: "({ outcome: 'acked', id: 1 }); // { outcome: 'acked', ... }\n", line: 1 };
  t.equal(
    (await runChecked('readme-self-check-partial.js', partial)).result.code,
    0,
    'an object claim may name some properties',
  );
  const several = { code: "console.log(1, 'a', 2); // 1 a 3\n", line: 1 };
  t.not(
    (await runChecked('readme-self-check-logged.js', several)).result.code,
    0,
    'a wrong "// 1 a 3" of console.log fails',
  );
  const summary = looseLine('missive: 2,003 received · 2,000 acked · 0 nacked · 0.16 s · 12,702 msg/s');
  t.match('missive: 2,003 received · 2,000 acked · 0 nacked · 1.5 s · 900 msg/s', summary, 'measurements may differ');
  t.notMatch('missive: 2,003 received · 1,999 acked · 0 nacked · 0.16 s · 12,702 msg/s', summary, 'counts may not');
});

for (const block of blocks) {
  await t.test(`README.md:${block.line} (${block.lang}${block.note ? `; ${block.note}` : ''})`, async (t) => {
    if (SHELL.has(block.lang)) await shellBlock(t, block);
    else if (JS.has(block.lang)) await jsBlock(t, block);
    else await outputBlock(t, block);
  });
}

async function shellBlock(t, block) {
  if (/^feeds\b/.test(block.note)) return feederBlock(t, block);
  const notHere = (/not run here: ([^(]+)/.exec(block.note)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let printed = '';
  for (const { text, line } of shellCommands(block)) {
    const parts = text.split(' && ').filter((part) => !notHere.includes(withoutComment(part)));
    if (parts.length === 0) {
      t.comment(`README.md:${line}: ${withoutComment(text)} is not run here (${block.note})`);
      continue;
    }
    const command = parts.join(' && ');
    // In a block that runs until Ctrl-C, the commands that do: consumers (missive run) and the dead-letter page.
    const untilCtrlC =
      /runs until Ctrl-C/.test(block.note) && /\bmissive (run|dlq serve)\b/.test(command) && !/--help\b/.test(command);
    const options = await needServers(serversFor(command, block.note));
    if (options.skip && untilCtrlC)
      for (const feeder of feedersOf(block, command)) notFed.set(feeder.line, options.skip);
    await t.test(`README.md:${line}: ${withoutComment(command)}`, options, async (t) => {
      const result = untilCtrlC ? await longRun(t, block, command) : await runShell(copy, command);
      t.equal(result.code, expectedStatus(block.note), `exits ${expectedStatus(block.note)}`, shown(result));
      outputs.set(withoutComment(command), result);
      for (const part of parts) outputs.set(withoutComment(part), result);
      printed += result.stdout + result.stderr;
    });
  }
  for (const text of printsOf(block.note))
    t.ok(printed.includes(text), `prints ${JSON.stringify(text)}`, { printed: printed.slice(-3000) });
}

// A command that runs until Ctrl-C: started, fed by the blocks that say they feed it, then sent SIGINT as a
// terminal sends it (to the whole process group). It must drain and exit as the README says.
async function longRun(t, block, command) {
  const port = /--port[ =](\d+)/.exec(command)?.[1];
  if (port && (await portTaken(Number(port)))) {
    const reason = `port ${port}, where the README's command listens, is taken by another process`;
    for (const feeder of feedersOf(block, command)) notFed.set(feeder.line, reason);
    if (process.env.CI === 'true') t.fail(reason);
    else t.skip(reason);
    return { code: expectedStatus(block.note), stdout: '', stderr: '' };
  }
  const started = startShell(copy, command);
  t.teardown(() => killGroup(started));
  const early = started.done.then((result) => ({ exited: result }));
  // A guard, not a measurement: a command that neither starts running nor exits fails here with its output, rather
  // than at tap's timeout without it.
  // A run logs "running"; the dead-letter page says where it is serving.
  const running = waitFor(started, /"msg":"running"|^missive: serving /m).then(() => ({ running: true }));
  const stuck = new Promise((resolve) => setTimeout(resolve, 120_000, { stuck: true }).unref());
  const first = await Promise.race([early, running, stuck]);
  if (first.exited) {
    t.fail('exited before it was running', shown(first.exited));
    return first.exited;
  }
  if (first.stuck) {
    t.fail('never logged "running"', { ...started.output() });
    killGroup(started);
    return started.done;
  }
  // A feeder that shows its answer (curl's {"result":"ack"}) has been handled when it returns, so the summary
  // must count it; one that only publishes (to a broker) may still be on its way at the Ctrl-C, so it is not counted.
  let answered = 0;
  for (const feeder of feedersOf(block, command)) {
    if (SHELL.has(feeder.lang)) {
      const result = await runShell(copy, feeder.code);
      t.equal(result.code, 0, `README.md:${feeder.line} exits 0`, shown(result));
      const expected = shownOutput(feeder);
      if (expected.length > 0) {
        t.equal(
          result.stdout.trim(),
          expected.join('\n'),
          `README.md:${feeder.line} prints what the README shows`,
          shown(result),
        );
        answered++;
      }
    } else {
      const { result } = await runChecked(`readme-${feeder.line}.js`, feeder);
      t.equal(result.code, 0, `README.md:${feeder.line} runs and exits 0`, shown(result));
    }
    fed.add(feeder.line);
  }
  interrupt(started);
  const result = await started.done;
  if (answered > 0) {
    const [, received = '0', acked = '0'] = /([\d,]+) received · ([\d,]+) acked/.exec(result.stderr) ?? [];
    t.ok(
      Number(received.replaceAll(',', '')) >= answered && Number(acked.replaceAll(',', '')) >= answered,
      `handled the ${answered} messages it answered`,
      shown(result),
    );
  }
  return result;
}

// Run by the command it feeds, while that command runs (see longRun).
function feederBlock(t, block) {
  if (notFed.has(block.line)) t.skip(`the command it feeds was skipped: ${notFed.get(block.line)}`);
  else t.ok(fed.has(block.line), 'was run against the running command it feeds');
}

function feedersOf(block, command) {
  return blocks.filter((b) => {
    const adapter = /^feeds the (--adapter \S+)/.exec(b.note)?.[1];
    return b.line > block.line && adapter && command.includes(adapter);
  });
}

function waitFor(started, pattern) {
  return new Promise((resolve) => {
    const check = () => {
      const { stdout, stderr } = started.output();
      if (pattern.test(stderr) || pattern.test(stdout)) {
        started.child.stderr.off('data', check);
        started.child.stdout.off('data', check);
        resolve();
      }
    };
    started.child.stderr.on('data', check);
    started.child.stdout.on('data', check);
    check();
  });
}

async function jsBlock(t, block) {
  if (/^feeds\b/.test(block.note)) return feederBlock(t, block);
  const name = moduleName(block);
  const fragmentOf = /^fragment, with the imports of (\S+) above/.exec(block.note)?.[1];
  if (fragmentOf) {
    // A fragment shows a few lines of a module: it runs with that module's imports.
    const module = modules.get(fragmentOf);
    t.ok(module, `${fragmentOf} is a module above`);
    if (!module) return;
    const imports = module.code
      .split('\n')
      .filter((line) => /^import\b/.test(line))
      .join('\n');
    const result = await runProgram(`readme-${block.line}.js`, `${imports}\n${block.code}\n`);
    t.equal(result.code, 0, "runs after its module's imports and exits 0", shown(result));
    return;
  }
  if (name) {
    modules.set(name, block);
    const runAs = /run with: ([^;]+)/.exec(block.note)?.[1]?.trim();
    if (runAs) {
      writeInCopy(copy, name, block.code);
      const result = await runShell(copy, runAs);
      t.equal(result.code, 0, `${runAs} exits 0`, shown(result));
      for (const text of printsOf(block.note))
        t.ok((result.stdout + result.stderr).includes(text), `prints ${JSON.stringify(text)}`, shown(result));
      return;
    }
    if (/^export\b/m.test(block.code)) {
      // A module others import: it must load, with a default export where it has one. Its use is the test of
      // the blocks that import it.
      writeInCopy(copy, name, block.code);
      const probe = `const m = await import('./${name}'); if (${/^export default\b/m.test(block.code)} && m.default === undefined) process.exit(9);`;
      const result = await runProgram(`readme-${block.line}-import.js`, probe);
      t.equal(result.code, 0, `${name} imports cleanly`, shown(result));
      return;
    }
  }
  const { result, claims } = await runChecked(name ?? `readme-${block.line}.js`, block);
  t.equal(result.code, 0, 'runs and exits 0', shown(result));
  if (/from 'node:test'/.test(block.code)) {
    // A file of node:test tests that declares none also exits 0: its tests must have run, and passed.
    t.match(result.stdout, /^# pass [1-9]\d*$/m, 'its tests ran', shown(result));
    t.match(result.stdout, /^# fail 0$/m, 'and passed', shown(result));
  }
  for (const { line, claim } of claims)
    t.match(result.stderr, new RegExp(`^readme claim ${line} ok$`, 'm'), `README.md:${line}: // ${claim}`);
  for (const text of printsOf(block.note))
    t.ok((result.stdout + result.stderr).includes(text), `prints ${JSON.stringify(text)}`, shown(result));
}

// A program as the README prints it, with its `// value` comments checked (readme-claims.js).
async function runChecked(file, block) {
  const { code, claims } = withClaimsChecked(block.code, block.line + 1);
  return { result: await runProgram(file, code), claims };
}

async function runProgram(file, code) {
  writeInCopy(copy, file, code);
  return runNode(copy, file);
}

// A block that is not code: what the README says a command above prints. Each of its lines must be in that
// command's output, measurements (seconds, msg/s) aside.
async function outputBlock(t, block) {
  const of = /^output of (.+) above/.exec(block.note)?.[1];
  t.ok(of, `a <!-- readme: output of COMMAND above --> note says what this ${block.lang} block is`);
  if (!of) return;
  const result = outputs.get(of);
  t.ok(result, `${of} ran above`);
  if (!result) return;
  for (const line of block.code.split('\n').filter((l) => l.trim())) {
    t.match(result.stdout + result.stderr, looseLine(line), `prints ${line.trim()}`);
  }
}
