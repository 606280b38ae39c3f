import t from 'tap';
import fc from 'fast-check';
import { deliveriesOfBlock, forEachLine, linesIn, messagesIn } from '../dist/line-block.js';

/** A block over a fresh shared buffer, starting `offset` bytes in, so every alignment of the word loop is tried. */
function blockOf(bytes, offset = 0, firstLine = 1) {
  const shared = new Uint8Array(new SharedArrayBuffer(offset + bytes.length));
  shared.set(bytes, offset);
  const view = shared.subarray(offset);
  return {
    kind: 'lines',
    bytes: view,
    firstLine,
    lines: linesIn(view),
    idStart: 'p:',
    source: 'test',
    maxMessageBytes: 4,
  };
}

t.test('a block numbers its lines from firstLine, skips blank ones and drops one \\r before \\n', async (t) => {
  const block = blockOf(Buffer.from('a\r\n\n\r\nbb\ntoolong\nz'), 3, 41);
  t.equal(block.lines, 6);
  const seen = [];
  forEachLine(block, (index, line, start, end) =>
    seen.push([index, line, Buffer.from(block.bytes.subarray(start, end)).toString()]),
  );
  t.same(seen, [
    [0, 41, 'a'],
    [1, 44, 'bb'],
    [2, 45, 'toolong'],
    [3, 46, 'z'],
  ]);
  t.equal(messagesIn(block), 4);
  const deliveries = deliveriesOfBlock(block);
  t.same(
    deliveries.map((d) => d.id),
    ['p:41', 'p:44', 'p:45', 'p:46'],
  );
  t.same(deliveries[2].rejected?.reason, 'message too large', "a line over the block's limit is rejected");
  t.same(deliveries[1].meta, { source: 'test', line: 44 });
});

t.test('lines are found as a split on \\n finds them, whatever the bytes, line endings and alignment', async (t) => {
  const piece = fc.oneof(fc.constantFrom('\n', '\r\n', '\r', '', 'x', '{"a":1}', 'é'), fc.string({ maxLength: 9 }));
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 80 }),
      fc.nat(7),
      fc.integer({ min: 1, max: 1e6 }),
      (pieces, offset, firstLine) => {
        const text = pieces.join('');
        const block = blockOf(Buffer.from(text), offset, firstLine);
        const seen = [];
        const count = forEachLine(block, (index, line, start, end) =>
          seen.push([index, line, Buffer.from(block.bytes.subarray(start, end)).toString()]),
        );
        // The reference: split on \n, a last empty piece is no line, one \r before each \n goes, blank lines count.
        const parts = text.split('\n');
        if (parts.at(-1) === '') parts.pop();
        const expected = [];
        parts.forEach((part, k) => {
          const body = part.endsWith('\r') ? part.slice(0, -1) : part;
          if (body !== '') expected.push([expected.length, firstLine + k, body]);
        });
        return count === expected.length && JSON.stringify(seen) === JSON.stringify(expected);
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 random blocks split as the reference splits them');
});

t.test('a block that holds more newlines than its count of lines is refused, not split short', async (t) => {
  const block = { ...blockOf(Buffer.from('a\nb\nc\nd\ne\n')), lines: 2 };
  t.throws(() => forEachLine(block, () => {}), RangeError);
});
