import t from 'tap';
import { deliveriesOfBlock, forEachLine, linesIn, messagesIn } from '../dist/line-block.js';

/** A block over a fresh shared buffer, starting `offset` bytes in, so every alignment of the word loop is tried. */
function blockOf(bytes, offset = 0, firstLine = 1) {
  const shared = new Uint8Array(new SharedArrayBuffer(offset + bytes.length));
  shared.set(bytes, offset);
  const view = shared.subarray(offset);
  return { kind: 'lines', bytes: view, firstLine, lines: linesIn(view), idStart: 'p:', source: 'test', maxMessageBytes: 4 };
}

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
