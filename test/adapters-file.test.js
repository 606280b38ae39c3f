import t from 'tap';
import { once } from 'node:events';
import { createWriteStream, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileAdapter, InputError } from '../dist/adapters/file.js';
import { StdinAdapter } from '../dist/adapters/stdin.js';
import { deliveriesOfBlock, isLineBlock } from '../dist/line-block.js';
import { countsInPlace } from '../dist/newlines.js';

// As a run of eight threads opens it: blocks near a file's end are cut to a sixteenth of what is left.
const OPEN = { maxInFlight: 100, parallelism: 8 };

/** One chunk of an adapter stream as deliveries: blocks split as the main thread splits them. */
const deliveriesOf = (chunk) => (isLineBlock(chunk) ? deliveriesOfBlock(chunk) : chunk);

/** Reads a whole adapter stream into one array of deliveries. */
async function readAll(stream) {
  const out = [];
  for await (const batch of stream) out.push(...deliveriesOf(batch));
  return out;
}

const bodies = (deliveries) => deliveries.map((d) => d.body.toString());
const prefixOf = (id) => id.slice(0, id.indexOf(':'));

t.test('several files are read in order, each with its own source and id prefix', async (t) => {
  const dir = t.testdir({ 'a.jsonl': '{"a":1}\n{"a":2}\n', 'b.jsonl': '\r\n{"b":1}\r\n{"b":2}' });
  const a = join(dir, 'a.jsonl');
  const b = join(dir, 'b.jsonl');
  const adapter = new FileAdapter([a, b]);
  t.equal(adapter.name, 'file');
  t.equal(adapter.canRequeue, false);
  t.equal(adapter.client, undefined);
  const deliveries = await readAll(await adapter.open(OPEN));
  t.same(bodies(deliveries), ['{"a":1}', '{"a":2}', '{"b":1}', '{"b":2}']);
  t.same(
    deliveries.map((d) => d.meta.source),
    [`file:${a}`, `file:${a}`, `file:${b}`, `file:${b}`],
  );
  t.same(
    deliveries.map((d) => d.id.split(':')[1]),
    ['1', '2', '2', '3'],
  );
  t.equal(prefixOf(deliveries[0].id), prefixOf(deliveries[1].id));
  t.not(prefixOf(deliveries[1].id), prefixOf(deliveries[2].id), 'each file has its own prefix');
  adapter.ack(deliveries, 'handled');
  adapter.nack(deliveries);
  await adapter.close();
});

t.test('- reads the given stdin stream, between files', async (t) => {
  const dir = t.testdir({ 'a.jsonl': 'a1\n', 'b.jsonl': 'b1\n' });
  const stdin = new PassThrough();
  stdin.end('s1\ns2\n');
  const adapter = new FileAdapter([join(dir, 'a.jsonl'), '-', join(dir, 'b.jsonl')], { stdin });
  const deliveries = await readAll(await adapter.open(OPEN));
  t.same(bodies(deliveries), ['a1', 's1', 's2', 'b1']);
  t.same(deliveries.map((d) => d.meta.source).slice(1, 3), ['stdin', 'stdin']);
  t.throws(() => new FileAdapter(['-', '-']), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  t.throws(() => new FileAdapter([]), { code: 'MISSIVE_ERR_INVALID_OPTION' });
});

t.test('StdinAdapter reads lines from its stream', async (t) => {
  const stream = new PassThrough();
  const adapter = new StdinAdapter({ stream, maxMessageBytes: 4 });
  t.equal(adapter.name, 'stdin');
  t.equal(adapter.canRequeue, false);
  t.equal(adapter.client, undefined);
  const opened = adapter.open(OPEN);
  stream.write('ok\ntoo long\n');
  stream.end('la');
  const deliveries = await readAll(await opened);
  t.same(bodies(deliveries), ['ok', 'too long', 'la']);
  t.equal(deliveries[1].rejected.reason, 'message too large');
  t.same(deliveries[0].meta, { source: 'stdin', line: 1 });
  t.equal(adapter.ack(deliveries, 'handled'), undefined);
  t.equal(adapter.nack(deliveries), undefined);
  await adapter.close();
});

t.test('a missing or unreadable input fails open() naming it, before any line is emitted', async (t) => {
  const dir = t.testdir({ 'good.jsonl': 'g1\n', sub: {} });
  const missing = join(dir, 'nope.jsonl');
  const stdin = new PassThrough();
  stdin.write('s1\n');
  const adapter = new FileAdapter([join(dir, 'good.jsonl'), '-', missing], { stdin });
  const error = await adapter.open(OPEN).then(
    () => null,
    (e) => e,
  );
  t.ok(error instanceof InputError);
  t.equal(error.code, 'MISSIVE_ERR_INPUT');
  t.equal(error.path, missing);
  t.match(error.message, missing);
  t.match(error.message, /no such file or directory \(ENOENT\)/);
  t.equal(stdin.readableLength, 3, 'standard input was not read');
  await t.rejects(new FileAdapter([join(dir, 'sub')]).open(OPEN), {
    code: 'MISSIVE_ERR_INPUT',
    message: /is a directory/,
  });
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked.jsonl');
    writeFileSync(locked, 'x\n', { mode: 0o000 });
    await t.rejects(new FileAdapter([locked]).open(OPEN), { code: 'MISSIVE_ERR_INPUT', message: /EACCES/ });
  }
});

t.test('stop() ends the stream early', async (t) => {
  t.test('on a stream that is still open, without destroying it', async (t) => {
    const stream = new PassThrough();
    const adapter = new StdinAdapter({ stream });
    const out = await adapter.open(OPEN);
    stream.write('one\ntwo\npart');
    const iterator = out[Symbol.asyncIterator]();
    const first = await iterator.next();
    t.same(bodies(deliveriesOf(first.value)), ['one', 'two']);
    await adapter.stop();
    const next = await Promise.race([iterator.next(), sleep(2000, 'timeout')]);
    t.same(next, { done: true, value: undefined }, 'the stream ended; the partial line was not emitted');
    t.notOk(stream.destroyed, "standard input is not the adapter's to destroy");
    await adapter.close();
  });
  t.test('on a long file, and no later file is read', async (t) => {
    const dir = t.testdir({ 'b.jsonl': 'b\n' });
    const big = join(dir, 'big.jsonl');
    writeFileSync(big, 'x'.repeat(99).concat('\n').repeat(200_000));
    const adapter = new FileAdapter([big, join(dir, 'b.jsonl')]);
    let count = 0;
    for await (const chunk of await adapter.open(OPEN)) {
      const batch = deliveriesOf(chunk);
      if (count === 0) await adapter.stop();
      count += batch.length;
      t.notOk(batch.some((d) => d.body.toString() === 'b'));
    }
    t.ok(count < 50_000, `${count} of 200000 lines emitted after stop()`);
  });
});

/** Where the process's descriptor for `path` stands in it (Linux), or undefined. */
function readPosition(path) {
  for (const fd of readdirSync('/proc/self/fd')) {
    let target;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === path) return Number(/^pos:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1]);
  }
  return undefined;
}

t.test(
  'backpressure: a slow reader pauses the file read, memory stays flat',
  { skip: process.platform !== 'linux' && 'needs /proc' },
  async (t) => {
    const dir = t.testdir({});
    const path = join(dir, 'big.jsonl');
    const line = `{"pad":"${'p'.repeat(88)}"}\n`; // 100 bytes
    const block = Buffer.from(line.repeat(10_000)); // 1 MB
    const writer = createWriteStream(path);
    for (let i = 0; i < 150; i++) if (!writer.write(block)) await once(writer, 'drain');
    writer.end();
    await once(writer, 'finish');

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let consumed = 0;
    let maxAhead = 0;
    let rssMax = 0;
    let batches = 0;
    for await (const chunk of await new FileAdapter([path]).open(OPEN)) {
      consumed += chunk.bytes.length;
      // As a run does once a block is answered: its memory goes back to the adapter.
      chunk.release();
      batches++;
      if (batches % 20 === 0) {
        await sleep(5); // a slow reader: the file must wait for it
        const position = readPosition(path);
        if (position !== undefined) maxAhead = Math.max(maxAhead, position - consumed);
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
      }
    }
    t.equal(consumed, 150 * block.length, 'every line arrived');
    t.ok(maxAhead > 0, 'the read position was observed');
    t.ok(
      maxAhead < 4 * 1024 * 1024,
      `the file read ran at most ${(maxAhead / 1024).toFixed(0)} KiB ahead of the reader`,
    );
    t.ok(
      rssMax - rssBefore < 40 * 1024 * 1024,
      `RSS grew by ${((rssMax - rssBefore) / 1048576).toFixed(1)} MiB for 150 MB`,
    );
  },
);

t.test('a read failure after open() errors the stream with an InputError; open() works once', async (t) => {
  const stream = new PassThrough();
  const adapter = new StdinAdapter({ stream });
  const out = await adapter.open(OPEN);
  await t.rejects(adapter.open(OPEN), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  stream.write('a\n');
  setImmediate(() => stream.destroy(Object.assign(new Error('read failed'), { code: 'EIO' })));
  await t.rejects(readAll(out), {
    code: 'MISSIVE_ERR_INPUT',
    path: '-',
    message: /cannot read standard input \(-\): read failed/,
  });
});

t.test("a file's blocks shrink towards its end, so its last lines spread over the threads too", async (t) => {
  // 4 MiB of 64-byte lines: one default block's worth, which read whole would go to a single worker.
  const line = `${'x'.repeat(63)}\n`;
  const count = (4 * 1024 * 1024) / line.length;
  const dir = t.testdir({ 'big.txt': line.repeat(count) });
  const sizes = [];
  let lines = 0;
  let next = 1;
  for await (const chunk of await new FileAdapter([join(dir, 'big.txt')]).open(OPEN)) {
    t.ok(isLineBlock(chunk), 'every chunk is a block');
    t.ok(countsInPlace(chunk.bytes), 'read into memory whose newlines are counted where they are');
    t.equal(chunk.firstLine, next, 'blocks follow one another');
    sizes.push(chunk.bytes.length);
    lines += chunk.lines;
    next += chunk.lines;
    // As a run does once a block is answered: its memory serves a later block.
    chunk.release();
  }
  t.equal(lines, count, 'every line, once');
  t.ok(sizes.length >= 16, `cut into ${sizes.length} blocks`);
  t.ok(
    sizes[0] <= (4 * 1024 * 1024) / 16 + line.length,
    `the first is at most a sixteenth of the file (${sizes[0]} bytes)`,
  );
  t.ok(sizes.at(-2) <= sizes[0] / 2, `the last ones are smaller than the first (${sizes.at(-2)} against ${sizes[0]})`);
  t.ok(Math.min(...sizes.slice(0, -1)) >= 128 * 1024 - line.length, 'none but the last is below 128 KiB');
});

t.test(
  "a file's last blocks are cut by the threads that run them: none for one, a quarter of what is left for two",
  async (t) => {
    const line = `${'x'.repeat(63)}\n`;
    const count = (4 * 1024 * 1024) / line.length;
    const dir = t.testdir({ 'big.txt': line.repeat(count) });
    const sizesWith = async (parallelism) => {
      const sizes = [];
      for await (const chunk of await new FileAdapter([join(dir, 'big.txt')]).open({ maxInFlight: 100, parallelism })) {
        sizes.push(chunk.bytes.length);
        chunk.release();
      }
      return sizes;
    };
    t.same(await sizesWith(1), [4 * 1024 * 1024], 'one thread: the file is one block, as a cut would only add blocks');
    t.same(await sizesWith(undefined), [4 * 1024 * 1024], 'one thread when the opener does not say');
    const two = await sizesWith(2);
    t.ok(
      two[0] <= (4 * 1024 * 1024) / 4 + line.length,
      `two threads: the first block is at most a quarter (${two[0]} bytes)`,
    );
    t.ok(
      two.length >= 8 && two.length < 30,
      `two threads: ${two.length} blocks, fewer than a sixteenth each would make`,
    );
  },
);
