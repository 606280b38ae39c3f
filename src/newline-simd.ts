/**
 * A WebAssembly function that counts `\n` bytes sixteen at a time with SIMD, for the one pass the main thread makes
 * over line input (see `newlines.ts`). The module is assembled here from its instructions, so its source is this
 * file and not a binary nobody can read.
 *
 * What it computes, in the text format:
 *
 * ```wat
 * (func (export "count") (param $at i32) (param $vectors i32) (result i32)
 *   ;; up to 255 vectors per round: each compare adds at most 1 to a byte lane, so no lane overflows
 *   ;; round: $acc -= (v128.load $at == splat 10) per vector, then sum the 16 lanes into $total
 *   ...)
 * (memory (export "memory") 1)
 * ```
 */

/** Bytes of the module's memory: the counter copies input into it this much at a time. */
export const SCRATCH_BYTES = 64 * 1024;

const uleb = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
};
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (text: string): number[] => vector([...text].map((c) => [c.charCodeAt(0)]));
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const V128 = 0x7b;
const simd = (opcode: number): number[] => [0xfd, ...uleb(opcode)];
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const NO_RESULT = 0x40;
const GET = 0x20;
const SET = 0x21;
const TEE = 0x22;
const I32_CONST = 0x41;
const I32_EQZ = 0x45;
const I32_LT_U = 0x49;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const SELECT = 0x1b;
/** v128.load, alignment 2^4, offset 0. */
const V128_LOAD = [...simd(0x00), 0x04, 0x00];
const V128_ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)];
const I8X16_SPLAT = simd(0x0f);
const I8X16_EQ = simd(0x23);
const I8X16_SUB = simd(0x71);
const I16X8_PAIRWISE_U8 = simd(0x7d);
const I32X4_PAIRWISE_U16 = simd(0x7f);
const I32X4_LANE = simd(0x1b);

// Locals: the parameters, then $total and $round (i32), $acc and $newline (v128).
const AT = 0;
const VECTORS = 1;
const TOTAL = 2;
const ROUND = 3;
const ACC = 4;
const NEWLINE = 5;
const MAX_ROUND = 255;

const body = [
  I32_CONST, 0x0a, ...I8X16_SPLAT, SET, NEWLINE,
  BLOCK, NO_RESULT,
  LOOP, NO_RESULT,
  GET, VECTORS, I32_EQZ, BR_IF, 1,
  // $round = min($vectors, 255); $vectors -= $round
  GET, VECTORS, I32_CONST, ...leb32(MAX_ROUND), GET, VECTORS, I32_CONST, ...leb32(MAX_ROUND), I32_LT_U, SELECT, SET, ROUND,
  GET, VECTORS, GET, ROUND, I32_SUB, SET, VECTORS,
  ...V128_ZERO, SET, ACC,
  LOOP, NO_RESULT,
  // A lane equal to `\n` compares as -1: subtracting the comparison adds 1 to that lane.
  GET, ACC, GET, AT, ...V128_LOAD, GET, NEWLINE, ...I8X16_EQ, ...I8X16_SUB, SET, ACC,
  GET, AT, I32_CONST, 16, I32_ADD, SET, AT,
  GET, ROUND, I32_CONST, 1, I32_SUB, TEE, ROUND, BR_IF, 0,
  END,
  GET, ACC, ...I16X8_PAIRWISE_U8, ...I32X4_PAIRWISE_U16, SET, ACC,
  GET, TOTAL,
  GET, ACC, ...I32X4_LANE, 0, I32_ADD,
  GET, ACC, ...I32X4_LANE, 1, I32_ADD,
  GET, ACC, ...I32X4_LANE, 2, I32_ADD,
  GET, ACC, ...I32X4_LANE, 3, I32_ADD,
  SET, TOTAL,
  BR, 0,
  END,
  END,
  GET, TOTAL,
  END,
];

/** A signed LEB128 of a small positive i32 constant (`i32.const` takes a signed immediate). */
function leb32(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const code = [...vector([[...uleb(2), I32], [...uleb(2), V128]]), ...body];
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vector([[0x60, ...vector([[I32], [I32]]), ...vector([[I32]])]])),
  ...section(3, vector([[0]])),
  ...section(5, vector([[0x00, ...uleb(SCRATCH_BYTES / 65536)]])),
  ...section(7, vector([[...name('count'), 0x00, 0], [...name('memory'), 0x02, 0]])),
  ...section(10, vector([[...uleb(code.length), ...code]])),
]);

/** The module's instance: its memory and `count(at, vectors)`, the `\n` bytes in `vectors` × 16 bytes from `at`. */
export interface SimdCounter {
  readonly scratch: Uint8Array;
  readonly count: (at: number, vectors: number) => number;
}

// The project's `lib` has no DOM, where TypeScript declares WebAssembly; only these two constructors are used.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

/** The counter, or undefined where this V8 runs no WebAssembly SIMD (`--jitless`, say): callers count in JS. */
export function simdCounter(): SimdCounter | undefined {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    const { count, memory } = instance.exports as { count: SimdCounter['count']; memory: { buffer: ArrayBuffer } };
    return { scratch: new Uint8Array(memory.buffer, 0, SCRATCH_BYTES), count };
  } catch {
    return undefined;
  }
}
