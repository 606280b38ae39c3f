/**
 * A WebAssembly function that counts `\n` bytes sixteen at a time with SIMD, for the one pass the main thread makes
 * over line input (see `newlines.ts`). The module is assembled here from its instructions, so its source is this
 * file and not a binary nobody can read.
 *
 * What it computes, in the text format:
 *
 * ```wat
 * (import "missive" "memory" (memory 0 65536 shared))
 * (func (export "count") (param $at i32) (param $vectors i32) (result i32)
 *   ;; up to 255 vectors per round: each compare adds at most 1 to a byte lane, so no lane overflows
 *   ;; round: $acc -= (v128.load $at == splat 10) per vector, then sum the 16 lanes into $total
 *   ...)
 * ```
 */

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
  I32_CONST,
  0x0a,
  ...I8X16_SPLAT,
  SET,
  NEWLINE,
  BLOCK,
  NO_RESULT,
  LOOP,
  NO_RESULT,
  GET,
  VECTORS,
  I32_EQZ,
  BR_IF,
  1,
  // $round = min($vectors, 255); $vectors -= $round
  GET,
  VECTORS,
  I32_CONST,
  ...leb32(MAX_ROUND),
  GET,
  VECTORS,
  I32_CONST,
  ...leb32(MAX_ROUND),
  I32_LT_U,
  SELECT,
  SET,
  ROUND,
  GET,
  VECTORS,
  GET,
  ROUND,
  I32_SUB,
  SET,
  VECTORS,
  ...V128_ZERO,
  SET,
  ACC,
  LOOP,
  NO_RESULT,
  // A lane equal to `\n` compares as -1: subtracting the comparison adds 1 to that lane.
  GET,
  ACC,
  GET,
  AT,
  ...V128_LOAD,
  GET,
  NEWLINE,
  ...I8X16_EQ,
  ...I8X16_SUB,
  SET,
  ACC,
  GET,
  AT,
  I32_CONST,
  16,
  I32_ADD,
  SET,
  AT,
  GET,
  ROUND,
  I32_CONST,
  1,
  I32_SUB,
  TEE,
  ROUND,
  BR_IF,
  0,
  END,
  GET,
  ACC,
  ...I16X8_PAIRWISE_U8,
  ...I32X4_PAIRWISE_U16,
  SET,
  ACC,
  GET,
  TOTAL,
  GET,
  ACC,
  ...I32X4_LANE,
  0,
  I32_ADD,
  GET,
  ACC,
  ...I32X4_LANE,
  1,
  I32_ADD,
  GET,
  ACC,
  ...I32X4_LANE,
  2,
  I32_ADD,
  GET,
  ACC,
  ...I32X4_LANE,
  3,
  I32_ADD,
  SET,
  TOTAL,
  BR,
  0,
  END,
  END,
  GET,
  TOTAL,
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

const code = [
  ...vector([
    [...uleb(2), I32],
    [...uleb(2), V128],
  ]),
  ...body,
];
const PAGE_BYTES = 64 * 1024;
/** wasm32's whole address space, in pages: the import takes a shared memory of any size. */
const MAX_PAGES = 65536;
const MODULE_BYTES = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  ...section(1, vector([[0x60, ...vector([[I32], [I32]]), ...vector([[I32]])]])),
  // (import "missive" "memory" (memory 0 65536 shared)): flags 0x03 are "has a maximum" and "shared".
  ...section(2, vector([[...name('missive'), ...name('memory'), 0x02, 0x03, ...uleb(0), ...uleb(MAX_PAGES)]])),
  ...section(3, vector([[0]])),
  ...section(7, vector([[...name('count'), 0x00, 0]])),
  ...section(10, vector([[...uleb(code.length), ...code]])),
]);

/** `count(at, vectors)`: the `\n` bytes in `vectors` × 16 bytes of `memory`, from byte `at`. */
export interface SimdCounter {
  /** The memory the counter reads: input is counted in place when it lives here, else copied in first. */
  readonly memory: SharedArrayBuffer;
  readonly count: (at: number, vectors: number) => number;
}

// The project's `lib` has no DOM, where TypeScript declares WebAssembly; only what is used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
};

let compiled: object | null | undefined;

/**
 * A counter over a new shared memory of at least `bytes` bytes, or undefined where this V8 runs no WebAssembly SIMD
 * (`--jitless`, say): callers count in JS then. The memory is a SharedArrayBuffer, so what is read into it crosses
 * to a worker without a copy, as any block does.
 */
export function simdCounter(bytes: number): SimdCounter | undefined {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(MODULE_BYTES);
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return undefined;
  const pages = Math.max(1, Math.ceil(bytes / PAGE_BYTES));
  // More than wasm32 can address: counted by copying into a counter's memory instead.
  if (pages > MAX_PAGES) return undefined;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const instance = new WebAssembly.Instance(compiled, { missive: { memory } });
  return { memory: memory.buffer, count: instance.exports['count'] as SimdCounter['count'] };
}
