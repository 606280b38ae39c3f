// The attacks of the HTTP exhaustion issue, against `missive run --adapter http` in a child process (open files
// capped with `ulimit -n`, as on a default Linux box), and what they do to it:
//   trickle  10 clients trickle a body with --max-in-flight 5 while a signed sender sends N requests one by one
//            (once with no signature header, once with a well-formed but forged one);
//   bodies   1,500 1 MB bodies at once, unsigned (no header, then a forged one), each held back by its last byte
//            (open files not capped here): the server's RSS before, while they are held, at its peak (VmHWM) and
//            after;
//   idle     1,100 sockets that send nothing: how many the server closes and when, and whether a signed sender
//            (one acked message, one that becomes a dead letter) is still served.
// Run: node bench/http-exhaustion.js [--root DIR] [--signed 200] [--bodies 1500] [--idle 1100] [--fd-limit 1024]
//      [--only trickle,bodies,idle] (after `npx tsc -p .`). --root runs another build of missive-node (a checkout
//      with dist/ built), e.g. the commit before the fix, for the figures before and after.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: fileURLToPath(new URL('..', import.meta.url)) },
    signed: { type: 'string', default: '200' },
    bodies: { type: 'string', default: '1500' },
    idle: { type: 'string', default: '1100' },
    'fd-limit': { type: 'string', default: '1024' },
    only: { type: 'string', default: 'trickle,bodies,idle' },
  },
});
const ROOT = resolve(values.root);
const SECRET = 'bench-secret';
const MB = 1024 * 1024;
const FORGED = `sha256=${'0'.repeat(64)}`;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
/** Like sleep, for a race that is usually won by something else: it does not keep the bench alive. */
const deadline = (ms) => new Promise((done) => setTimeout(done, ms).unref());
const sign = (body) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
const mib = (kb) => `${(kb / 1024).toFixed(0)} MiB`;

/** `missive run` on a free port with the secret set, in a shell that caps its open files first. */
async function startServer(extra = [], fdLimit = Number(values['fd-limit'])) {
  const dir = mkdtempSync(join(tmpdir(), 'missive-http-bench-'));
  const args = [
    join(ROOT, 'dist/cli/main.js'),
    'run',
    join(ROOT, 'test/fixtures/mixed-processor.js'),
    '--adapter',
    'http',
    '--port',
    '0',
    '--secret',
    SECRET,
    '--threads',
    '1',
    '--dlq',
    join(dir, 'dlq.duckdb'),
    '--quiet',
    ...extra,
  ];
  const quoted = [process.execPath, ...args].map((arg) => `'${arg}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${fdLimit} && exec ${quoted}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdout.resume();
  const exited = new Promise((done) => child.on('close', (code, signal) => done({ code, signal })));
  while (!/listening on http:\/\/[^:]+:(\d+)/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`the server did not start: ${stderr}`);
    await sleep(20);
  }
  const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(stderr)[1]);
  return {
    port,
    pid: child.pid,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    /** VmRSS and VmHWM (peak) of the server, in KiB. */
    memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]), peak: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) };
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
}

/** One POST; resolves with its status, or the error code, or 'no answer' after `timeoutMs`. */
function post(port, body, headers = {}, timeoutMs = 15_000) {
  return new Promise((done) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(String(res.statusCode)));
      res.on('error', () => done(String(res.statusCode)));
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      done('no answer');
    });
    req.on('error', (error) => done(error.code ?? error.message));
    req.end(body);
  });
}

/** How many of each outcome, e.g. `200: 198, 503: 2`. */
function tally(outcomes) {
  const counts = new Map();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return (
    [...counts]
      .sort()
      .map(([outcome, n]) => `${outcome}: ${n}`)
      .join(', ') || 'none'
  );
}

/** A socket that declares a 1 MiB body and sends one byte of it every 200 ms; `outcome()` says what it got. */
function trickler(port, headers) {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => (text += chunk));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: ${MB}\r\n${extra}\r\n`);
  const timer = setInterval(() => socket.writable && socket.write('x'), 200);
  return {
    outcome: () => (text ? `got ${text.slice(9, 12)}` : closed ? 'closed' : 'still open'),
    destroy() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

async function trickle(headers, label) {
  const server = await startServer(['--max-in-flight', '5']);
  const tricklers = Array.from({ length: 10 }, () => trickler(server.port, headers));
  await sleep(500);
  const outcomes = [];
  for (let i = 0; i < Number(values.signed); i++) {
    const body = JSON.stringify({ type: 'ok', n: i });
    outcomes.push(await post(server.port, body, { 'x-missive-signature': sign(body) }));
  }
  const trickled = tally(tricklers.map((t) => t.outcome()));
  for (const t of tricklers) t.destroy();
  const exit = await server.stop();
  console.log(`trickle (${label}): 10 clients trickling 1 byte/200 ms with --max-in-flight 5`);
  console.log(`  signed sender, ${values.signed} requests one by one: ${tally(outcomes)}`);
  console.log(`  the trickling clients: ${trickled}; server exit ${exit.code ?? exit.signal}`);
}

/**
 * A socket that sends a 1 MB POST but its last byte, so the server holds what it has read of it; `finish()` sends
 * the last byte. `sent` resolves once the rest is written (or refused), `outcome` with the answer's status.
 */
function heldBody(port, headers) {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => (text += chunk));
  let failed = '';
  socket.on('error', (error) => (failed = error.code ?? error.message));
  const closed = new Promise((done) => socket.on('close', done));
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: ${MB}\r\nConnection: close\r\n${extra}\r\n`);
  const sent = new Promise((done) => {
    socket.write(BODY_BUT_LAST, done);
    closed.then(done);
  });
  const outcome = (async () => {
    const answered = await Promise.race([closed.then(() => true), deadline(120_000).then(() => false)]);
    socket.destroy();
    if (text) return text.slice(9, 12);
    return answered ? failed || 'closed, no answer' : 'no answer';
  })();
  return { sent, outcome, finish: () => socket.writable && socket.write('a') };
}
const BODY_BUT_LAST = Buffer.alloc(MB - 1, 'a');

async function bodies(headers, label) {
  // Open files are not what this one is about: room for every client, so memory is what runs out.
  const server = await startServer([], 4 * Number(values.bodies));
  const warm = JSON.stringify({ type: 'ok', n: 0 });
  await post(server.port, warm, { 'x-missive-signature': sign(warm) });
  const before = server.memory();
  const clients = [];
  for (let i = 0; i < Number(values.bodies); i++) {
    clients.push(heldBody(server.port, headers));
    if (i % 100 === 99) await sleep(10);
  }
  await Promise.race([Promise.all(clients.map((client) => client.sent)), deadline(60_000)]);
  await sleep(1000);
  const held = server.memory();
  for (const client of clients) client.finish();
  const outcomes = await Promise.all(clients.map((client) => client.outcome));
  await sleep(2000);
  const after = server.memory();
  const signed = await post(server.port, warm, { 'x-missive-signature': sign(warm) });
  const exit = await server.stop();
  console.log(`bodies (${label}): ${values.bodies} bodies of 1 MB at once, each held back by its last byte`);
  console.log(`  answers once the last bytes came: ${tally(outcomes)}`);
  console.log(
    `  server RSS: ${mib(before.rss)} before, ${mib(held.rss)} with the bodies held, ${mib(after.peak)} at the peak, ` +
      `${mib(after.rss)} 2 s after`,
  );
  console.log(`  a signed request afterwards: ${signed}; server exit ${exit.code ?? exit.signal}`);
}

async function idle() {
  const server = await startServer();
  const count = Number(values.idle);
  const closedAt = [];
  const sockets = [];
  const opened = Date.now();
  for (let i = 0; i < count; i++) {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', () => closedAt.push(Date.now() - opened));
    socket.resume();
    sockets.push(socket);
    if (i % 100 === 99) await sleep(10);
  }
  await sleep(500);
  const ok = JSON.stringify({ type: 'ok', n: 1 });
  const boom = JSON.stringify({ type: 'boom', n: 2 });
  const [okStatus, boomStatus] = await Promise.all([
    post(server.port, ok, { 'x-missive-signature': sign(ok) }),
    post(server.port, boom, { 'x-missive-signature': sign(boom) }),
  ]);
  while (Date.now() - opened < 20_000 && closedAt.length < count) await sleep(100);
  const closedBy = (ms) => closedAt.filter((at) => at <= ms).length;
  const stillOpen = count - closedAt.length;
  const last = closedAt.length > 0 ? ` (the last after ${(Math.max(...closedAt) / 1000).toFixed(1)} s)` : '';
  for (const socket of sockets) socket.destroy();
  const alive = server.alive();
  const emfile = (server.stderr().match(/EMFILE/g) ?? []).length;
  const exit = await server.stop();
  console.log(`idle: ${count} sockets that send nothing (open files capped at ${values['fd-limit']})`);
  console.log(
    `  closed by the server: ${closedBy(1000)} within 1 s, ${closedBy(15_000)} within 15 s${last}, ` +
      `${stillOpen} still open at 20 s`,
  );
  console.log(`  signed sender meanwhile: acked message ${okStatus}, dead-letter message ${boomStatus}`);
  console.log(`  server alive after: ${alive}; EMFILE in its log: ${emfile} times; exit ${exit.code ?? exit.signal}`);
}

console.log(`missive-node at ${ROOT}, node ${process.version}`);
const only = new Set(values.only.split(','));
if (only.has('trickle')) {
  await trickle({}, 'no signature header');
  await trickle({ 'x-missive-signature': FORGED }, 'forged signature header');
}
if (only.has('bodies')) {
  await bodies({}, 'no signature header');
  await bodies({ 'x-missive-signature': FORGED }, 'forged signature header');
}
if (only.has('idle')) await idle();
