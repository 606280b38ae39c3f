import t from 'tap';
import fc from 'fast-check';
import { countNewlines, deliveriesOfBlock, forEachLine, linesIn, messagesIn } from '../dist/line-block.js';

/** A block over a fresh shared buffer, starting `offset` bytes in, so every alignment of the word loop is tried. */
function blockOf(bytes, offset = 0, firstLine = 1) {
  const shared = new Uint8Array(new SharedArrayBuffer(offset + bytes.length));
  shared.set(bytes, offset);
  const view = shared.subarray(offset);
  return { kind: 'lines', bytes: view, firstLine, lines: linesIn(view), idStart: 'p:', source: 'test', maxMessageBytes: 4 };
}

t.test('countNewlines counts exactly, whatever the bytes and alignment', async (t) => {
  // Bytes near \n (0x0a) and the ones a word trick could confuse with it (0x0b, 0x8a, 0x00) made frequent.
  const byte = fc.oneof(fc.constantFrom(0x0a, 0x0b, 0x09, 0x8a, 0x00, 0xff, 0x0d), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(byte, { maxLength: 64 }), fc.nat(7), (random, chosen, offset) => {
      const bytes = Uint8Array.from([...random, ...chosen]);
      const naive = bytes.reduce((n, b) => n + (b === 0x0a ? 1 : 0), 0);
      return countNewlines(blockOf(bytes, offset).bytes) === naive;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random buffers counted as a byte loop counts them');
});

t.test('a block numbers its lines from firstLine, skips blank ones and drops one \\r before \\n', async (t) => {
  const block = blockOf(Buffer.from('a\r\n\n\r\nbb\ntoolong\nz'), 3, 41);
  t.equal(block.lines, 6);
  const seen = [];
  forEachLine(block, (index, line, start, end) => seen.push([index, line, Buffer.from(block.bytes.subarray(start, end)).toString()]));
  t.same(seen, [
    [0, 41, 'a'],
    [1, 44, 'bb'],
    [2, 45, 'toolong'],
    [3, 46, 'z'],
  ]);
  t.equal(messagesIn(block), 4);
  const deliveries = deliveriesOfBlock(block);
  t.same(deliveries.map((d) => d.id), ['p:41', 'p:44', 'p:45', 'p:46']);
  t.same(deliveries[2].rejected?.reason, 'message too large', 'a line over the block\'s limit is rejected');
  t.same(deliveries[1].meta, { source: 'test', line: 44 });
});
