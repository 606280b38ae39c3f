import t from 'tap';
import fc from 'fast-check';
import {
  countNewlines,
  countNewlinesScalar,
  countableMemory,
  countsInPlace,
  findNewlines,
  simdNewlines,
} from '../dist/newlines.js';

/**
 * `bytes` in fresh shared memory, starting `offset` bytes in, as blocks are: every alignment gets tried. `inPlace`
 * puts them in memory the SIMD counter reads where it is (blocks of line input), else in a plain SharedArrayBuffer
 * (copied into the counter's memory to be counted).
 */
function shared(bytes, offset, inPlace = false) {
  const memory = inPlace ? countableMemory(offset + bytes.length + 64) : new SharedArrayBuffer(offset + bytes.length);
  const view = new Uint8Array(memory, offset, bytes.length);
  view.set(bytes);
  return view;
}

const naive = (bytes) => bytes.reduce((n, b) => n + (b === 0x0a ? 1 : 0), 0);

t.test('the SIMD counter is the one in use on this Node', async (t) => {
  t.equal(simdNewlines, true, 'WebAssembly SIMD compiled: countNewlines is not the JS fallback');
  t.equal(countsInPlace(new Uint8Array(countableMemory(1024), 16, 512)), true, 'countable memory is counted in place');
  t.equal(countsInPlace(new Uint8Array(new SharedArrayBuffer(1024))), false, 'other memory is copied to be counted');
});

t.test('both counters count exactly, whatever the bytes, length and alignment', async (t) => {
  // Bytes near \n (0x0a) and the ones a word or lane trick could confuse with it made frequent.
  const byte = fc.oneof(fc.constantFrom(0x0a, 0x0b, 0x09, 0x8a, 0x00, 0xff, 0x0d), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(byte, { maxLength: 64 }),
      fc.nat(17),
      fc.boolean(),
      (random, chosen, offset, inPlace) => {
        const bytes = shared(Uint8Array.from([...random, ...chosen]), offset, inPlace);
        const expected = naive(bytes);
        return countNewlines(bytes) === expected && countNewlinesScalar(bytes) === expected;
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 random buffers counted as a byte loop counts them');
});

t.test('long runs of newlines and blocks past the counter memory are counted exactly', async (t) => {
  // A lane of the SIMD counter holds at most 255 before it is summed, and input goes through its memory 64 KiB at a
  // time: all newlines, and sizes around those edges, catch an overflow or a lost piece.
  for (const length of [255 * 16, 255 * 16 + 1, 256 * 16, 65535, 65536, 65537, 3 * 65536 + 17, 1 << 20]) {
    for (const offset of [0, 5]) {
      for (const inPlace of [false, true]) {
        const where = `at offset ${offset}${inPlace ? ', in place' : ''}`;
        const all = shared(new Uint8Array(length).fill(0x0a), offset, inPlace);
        t.equal(countNewlines(all), length, `${length} newlines ${where}`);
        const mixed = shared(
          Uint8Array.from({ length }, (_, i) => ((i * 7919) % 13 === 0 ? 0x0a : 0x41)),
          offset,
          inPlace,
        );
        t.equal(countNewlines(mixed), naive(mixed), `${length} mixed bytes ${where}`);
      }
    }
  }
});

t.test('bytes in the memory of another counter are counted only within their view', async (t) => {
  // A view in the middle of countable memory: newlines just outside it must not be counted.
  const memory = new Uint8Array(countableMemory(4096)).fill(0x0a);
  const view = memory.subarray(100, 100 + 1000);
  view.fill(0x41);
  view[0] = 0x0a;
  view[999] = 0x0a;
  t.equal(countNewlines(view), 2);
});

t.test('findNewlines lists every newline where it is, in order, whatever the bytes and alignment', async (t) => {
  const byte = fc.oneof(fc.constantFrom(0x0a, 0x0b, 0x09, 0x8a, 0x00, 0xff, 0x0d), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 300 }), fc.nat(17), (chosen, offset) => {
      const bytes = shared(Uint8Array.from(chosen), offset);
      const expected = [];
      bytes.forEach((b, i) => b === 0x0a && expected.push(i));
      const into = new Uint32Array(expected.length);
      const found = findNewlines(bytes, into);
      return found === expected.length && expected.every((at, k) => into[k] === at);
    }),
    { numRuns: 3000 },
  );
  const all = shared(new Uint8Array(1027).fill(0x0a), 3);
  const into = new Uint32Array(1027);
  t.equal(findNewlines(all, into), 1027, 'four newlines in one word, and every word so');
  t.equal(into[1026], 1026);
});
