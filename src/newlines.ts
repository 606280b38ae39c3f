/**
 * Counting a block's `\n` bytes is the one pass the main thread makes over line input (it numbers the lines, so a
 * block's ids are known before a worker splits it), so its cost per byte is the main thread's cost per message.
 */
import { SCRATCH_BYTES, simdCounter } from './newline-simd.js';

const LF = 0x0a;
const EMPTY_WORDS = new Uint32Array(0);
/** Below this, copying into the SIMD counter's memory costs more than counting in JS. */
const SIMD_MIN_BYTES = 256;

const simd = simdCounter();

/**
 * Counts the `\n` bytes of `bytes`. With WebAssembly SIMD (any Node this project supports), in 64 KiB pieces copied
 * into the counter's memory, 16 bytes per compare: ~0.13 ns a byte here, the copy included, against ~0.5 ns for
 * {@link countNewlinesScalar}, which is the fallback.
 */
export function countNewlines(bytes: Uint8Array): number {
  if (!simd || bytes.length < SIMD_MIN_BYTES) return countNewlinesScalar(bytes);
  const { scratch, count } = simd;
  let total = 0;
  let at = 0;
  // Whole vectors through the counter, the last few bytes here.
  const vectorEnd = bytes.length & ~15;
  while (at < vectorEnd) {
    const length = Math.min(SCRATCH_BYTES, vectorEnd - at);
    scratch.set(bytes.subarray(at, at + length));
    total += count(0, length >>> 4);
    at += length;
  }
  for (; at < bytes.length; at++) if (bytes[at] === LF) total++;
  return total;
}

/**
 * Counts the `\n` bytes of `bytes` four at a time in JS: a byte equal to `\n` is the only one whose XOR with `\n`
 * is zero, and the zero bytes of a word are found without a branch.
 */
export function countNewlinesScalar(bytes: Uint8Array): number {
  const end = bytes.length;
  let count = 0;
  let i = 0;
  // A Uint32Array view needs an aligned start.
  const head = Math.min(end, (4 - (bytes.byteOffset & 3)) & 3);
  for (; i < head; i++) if (bytes[i] === LF) count++;
  const words = (end - i) >>> 2;
  // No view when there is no whole word: a short block cut from a larger one may start anywhere.
  const view = words > 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset + i, words) : EMPTY_WORDS;
  for (let k = 0; k < words; k++) {
    const x = view[k]! ^ 0x0a0a0a0a;
    // High bit set in each byte of x that is zero; no carry crosses bytes, so the count is exact.
    const zero = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
    count += Math.imul(zero >>> 7, 0x01010101) >>> 24;
  }
  for (i += words * 4; i < end; i++) if (bytes[i] === LF) count++;
  return count;
}

/** Whether {@link countNewlines} runs on WebAssembly SIMD here. */
export const simdNewlines = simd !== undefined;
