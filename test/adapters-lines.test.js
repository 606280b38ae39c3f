import t from 'tap';
import fc from 'fast-check';
import { once } from 'node:events';
import { LineCutter, LineSplitter, DEFAULT_MAX_MESSAGE_BYTES, newRunPrefix } from '../dist/adapters/lines.js';
import { SAMPLE_BYTES } from '../dist/too-large.js';
import { deliveriesOfBlock, isLineBlock } from '../dist/line-block.js';
import { Reasons } from '../dist/outcome.js';

const TOO_LARGE_REASON = Reasons.tooLarge;

/** A splitter's chunk as deliveries: blocks are split as a processor that routes in the main thread splits them. */
const asDeliveries = (chunk) => (isLineBlock(chunk) ? deliveriesOfBlock(chunk) : chunk);

/** Writes `chunks` into a fresh splitter and collects every batch it emits. */
async function split(chunks, options = {}) {
  const splitter = new LineSplitter({ source: 'test', ...options });
  const batches = [];
  splitter.on('data', (batch) => batches.push(batch));
  for (const chunk of chunks) splitter.write(chunk);
  splitter.end();
  await once(splitter, 'end');
  return { splitter, batches, deliveries: batches.flatMap(asDeliveries) };
}

/**
 * The same through `reserve()`/`commit()`, as the file reader uses it: each chunk is read into the memory the
 * cutter hands out, as many reads as it takes; the bytes left in that memory from earlier blocks must not matter.
 */
function splitByReserve(chunks, options = {}) {
  const batches = [];
  const cutter = new LineCutter({ source: 'test', ...options }, (batch) => batches.push(batch));
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length;) {
      const target = cutter.reserve();
      const n = Math.min(target.length, chunk.length - at);
      chunk.copy(target, 0, at, at + n);
      cutter.commit(n);
      at += n;
    }
  }
  cutter.end();
  return { batches, deliveries: batches.flatMap(asDeliveries) };
}

const text = (deliveries) => deliveries.map((d) => d.body.toString('latin1'));
const lineOf = (id) => Number(id.slice(id.indexOf(':') + 1));

/** Cuts `bytes` at the given offsets (taken modulo its length), in order. */
function cut(bytes, offsets) {
  const points = [...new Set(offsets.map((o) => (bytes.length ? o % bytes.length : 0)))].sort((a, b) => a - b);
  const chunks = [];
  let from = 0;
  for (const point of points) {
    if (point > from) chunks.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  chunks.push(bytes.subarray(from));
  return chunks.map((c) => Buffer.from(c));
}

t.test('property: any lines, endings and chunk boundaries give the non-blank lines, in order', async (t) => {
  // Bytes without \n, with \r and a few letters made frequent so CR edge cases come up often.
  const byte = fc.oneof(
    fc.constant(13),
    fc.constant(0x61),
    fc.integer({ min: 0, max: 255 }).filter((b) => b !== 10),
  );
  const line = fc.record({ bytes: fc.array(byte, { maxLength: 12 }), crlf: fc.boolean() });
  const input = fc.record({
    lines: fc.array(line, { maxLength: 30 }),
    finalNewline: fc.boolean(),
    offsets: fc.array(fc.nat(), { maxLength: 20 }),
    max: fc.option(fc.integer({ min: 1, max: 14 }), { nil: undefined }),
    blockBytes: fc.option(fc.integer({ min: 1, max: 24 }), { nil: undefined }),
    byReserve: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(input, async ({ lines, finalNewline, offsets, max, blockBytes, byReserve }) => {
      const parts = [];
      const expected = [];
      lines.forEach(({ bytes, crlf }, i) => {
        const last = i === lines.length - 1;
        const ending = last && !finalNewline ? [] : crlf ? [13, 10] : [10];
        parts.push(...bytes, ...ending);
        // The model: a line is its bytes up to \n; one trailing \r is dropped; empty lines are skipped.
        let content = ending.length === 2 ? [...bytes, 13] : bytes;
        if (content.at(-1) === 13) content = content.slice(0, -1);
        if (content.length === 0) return;
        const limit = max ?? DEFAULT_MAX_MESSAGE_BYTES;
        expected.push({
          line: i + 1,
          body: Buffer.from(content.slice(0, content.length > limit ? SAMPLE_BYTES : content.length)),
          tooLarge: content.length > limit ? content.length : 0,
        });
      });
      const chunks = cut(Buffer.from(parts), offsets);
      const options = { maxMessageBytes: max, blockBytes };
      const { deliveries, batches } = byReserve ? splitByReserve(chunks, options) : await split(chunks, options);
      if (batches.some((b) => (isLineBlock(b) ? b.lines === 0 : !Array.isArray(b) || b.length === 0))) return false;
      if (deliveries.length !== expected.length) return false;
      return expected.every((e, i) => {
        const d = deliveries[i];
        if (!Buffer.isBuffer(d.body) || !d.body.equals(e.body)) return false;
        if (lineOf(d.id) !== e.line || d.meta.source !== 'test') return false;
        if (!e.tooLarge) return d.rejected === undefined;
        return (
          d.rejected?.reason === TOO_LARGE_REASON && d.rejected.error.includes(`line ${e.line} is ${e.tooLarge} bytes`)
        );
      });
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random inputs split as the model says, written or read into reserved memory, any block size');
});

t.test('splits across chunks, CRLF, blank lines, final line without newline', async (t) => {
  const { deliveries, batches } = await split(
    ['{"a":', '1}\r', '\n\n\r\n  \n{"b":2}\n', 'x\r\ny'].map((s) => Buffer.from(s)),
  );
  t.same(text(deliveries), ['{"a":1}', '  ', '{"b":2}', 'x', 'y']);
  t.same(
    deliveries.map((d) => lineOf(d.id)),
    [1, 4, 5, 6, 7],
    'blank lines count, so ids give the line number',
  );
  t.ok(batches.length <= 4, 'at most one batch per chunk (and one at the end)');
});

t.test('bodies are copies: they share no memory with the input chunks', async (t) => {
  const chunk = Buffer.from('one\ntwo\nthr');
  const { deliveries } = await split([chunk, Buffer.from('ee\n')]);
  t.same(text(deliveries), ['one', 'two', 'three']);
  for (const d of deliveries) t.not(d.body.buffer, chunk.buffer);
  chunk.fill(0);
  t.same(text(deliveries), ['one', 'two', 'three'], 'changing the input later does not change a body');
});

t.test('ids are unique, in line order, and exact past the thousands', async (t) => {
  const lines = Array.from({ length: 2600 }, (_, i) => `{"n":${i + 1}}\n`).join('');
  const a = await split(cut(Buffer.from(lines), [100, 5000, 13000, 21000]), { idPrefix: 'pfx' });
  t.equal(a.deliveries.length, 2600);
  const mismatch = a.deliveries.findIndex((d, i) => d.id !== `pfx:${i + 1}`);
  t.equal(mismatch, -1, 'every id is <prefix>:<line number>');
  const b = await split([Buffer.from('x\n')]);
  const c = await split([Buffer.from('x\n')]);
  t.not(b.deliveries[0].id, c.deliveries[0].id, 'two inputs get different run prefixes');
  t.match(b.deliveries[0].id, /^[0-9a-z]{8}:1$/);
  const prefixes = new Set(Array.from({ length: 1000 }, newRunPrefix));
  t.equal(prefixes.size, 1000, 'random prefixes do not repeat');
});

t.test('meta says where a line came from: { source, line }', async (t) => {
  const { deliveries } = await split([Buffer.from('a\n\nb\n')], { source: 'file:x.jsonl' });
  t.same(
    deliveries.map((d) => d.meta),
    [
      { source: 'file:x.jsonl', line: 1 },
      { source: 'file:x.jsonl', line: 3 },
    ],
  );
});

t.test('lines come out as blocks of shared memory, one per chunk, counted without visiting the lines', async (t) => {
  const { batches } = await split([Buffer.from('a\nb'), Buffer.from('c\n\r\nd\n'), Buffer.from('e')], {
    idPrefix: 'p',
  });
  t.same(
    batches.map((b) => [b.kind, b.firstLine, b.lines, Buffer.from(b.bytes).toString()]),
    [
      ['lines', 1, 1, 'a\n'],
      ['lines', 2, 3, 'bc\n\r\nd\n'],
      ['lines', 5, 1, 'e'],
    ],
  );
  t.ok(
    batches.every((b) => b.bytes.buffer instanceof SharedArrayBuffer),
    'a worker reads them without a copy',
  );
});

t.test('a 5 MiB line over a 1 KiB limit: one dead letter, neighbours intact, never buffered whole', async (t) => {
  const limit = 1024;
  const huge = Buffer.alloc(5 * 1024 * 1024, 0x78);
  huge.write('HEAD', 0);
  const input = Buffer.concat([Buffer.from('before\n'), huge, Buffer.from('\r\nafter\n')]);
  const splitter = new LineSplitter({ source: 'test', maxMessageBytes: limit });
  const deliveries = [];
  const blockBytes = [];
  splitter.on('data', (batch) => {
    if (isLineBlock(batch)) blockBytes.push(batch.bytes.length);
    deliveries.push(...asDeliveries(batch));
  });
  let maxBuffered = 0;
  for (let off = 0; off < input.length; off += 64 * 1024) {
    splitter.write(input.subarray(off, off + 64 * 1024));
    maxBuffered = Math.max(maxBuffered, splitter.bufferedBytes);
  }
  splitter.end();
  await once(splitter, 'end');
  t.ok(maxBuffered <= limit + 1 + SAMPLE_BYTES, `held at most ${maxBuffered} bytes between chunks`);
  t.same(
    text(deliveries).map((s) => s.slice(0, 6)),
    ['before', 'HEADxx', 'after'],
  );
  const [, rejected, after] = deliveries;
  t.same(rejected.rejected, {
    reason: 'message too large',
    error: `line 2 is ${huge.length} bytes, over the limit of 1024 bytes (--max-message-bytes)`,
  });
  t.equal(rejected.body.length, SAMPLE_BYTES, 'the body is the first 1 KiB');
  t.ok(rejected.body.buffer.byteLength <= 2 * SAMPLE_BYTES, 'the sample does not pin the line');
  t.ok(
    Math.max(...blockBytes) <= 64 * 1024 + SAMPLE_BYTES,
    `no block holds the long line (the largest: ${Math.max(...blockBytes)} bytes)`,
  );
  t.equal(lineOf(after.id), 3);
});

t.test('size limit edges', async (t) => {
  const limit = 8;
  const { deliveries } = await split(
    [Buffer.from('12345678\r\n'), Buffer.from('123456789\n1234'), Buffer.from('5678\r'), Buffer.from('\n123456789')],
    { maxMessageBytes: limit },
  );
  t.same(
    deliveries.map((d) => [d.body.toString(), d.rejected?.error ?? null]),
    [
      ['12345678', null],
      ['123456789', 'line 2 is 9 bytes, over the limit of 8 bytes (--max-message-bytes)'],
      ['12345678', null],
      ['123456789', 'line 4 is 9 bytes, over the limit of 8 bytes (--max-message-bytes)'],
    ],
    'exactly the limit passes with or without \\r\\n split across chunks; one more byte is rejected, at the end too',
  );
  const tiny = await split(
    Array.from(Buffer.from('abcdefghijklmnop\n'), (b) => Buffer.from([b])),
    { maxMessageBytes: 3 },
  );
  t.equal(
    tiny.deliveries[0].body.toString(),
    'abcdefghijklmnop',
    'the sample fills up to 1 KiB even after skipping starts',
  );
  t.match(tiny.deliveries[0].rejected.error, /line 1 is 16 bytes/);
});

t.test('maxMessageBytes is checked', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new LineSplitter({ source: 'x', maxMessageBytes: bad }), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  }
});
