/**
 * Counting a block's `\n` bytes is the one pass the main thread makes over line input (it numbers the lines, so a
 * block's ids are known before a worker splits it), so its cost per byte is the main thread's cost per message.
 */
import { endianness } from 'node:os';
import { simdCounter, type SimdCounter } from './newline-simd.js';

const LF = 0x0a;
const EMPTY_WORDS = new Uint32Array(0);
/** Below this, the counter's call costs more than counting in JS. */
const SIMD_MIN_BYTES = 256;
/** Input outside a counter's memory is copied into this one this much at a time. */
const SCRATCH_BYTES = 64 * 1024;

const scratch = simdCounter(SCRATCH_BYTES);
/** The counters of memories made by {@link countableMemory}, by memory. */
const inPlace = new WeakMap<ArrayBufferLike, SimdCounter>();

/**
 * Shared memory of at least `bytes` bytes whose newlines {@link countNewlines} counts where they are, without
 * copying them first: for the blocks of line input, which are read straight into it.
 */
export function countableMemory(bytes: number): SharedArrayBuffer {
  const counter = simdCounter(bytes);
  if (!counter) return new SharedArrayBuffer(bytes);
  inPlace.set(counter.memory, counter);
  return counter.memory;
}

/**
 * Counts the `\n` bytes of `bytes`. With WebAssembly SIMD (any Node this project supports), 16 bytes per compare:
 * ~0.03 ns a byte in memory from {@link countableMemory}; elsewhere the bytes are copied into the counter's memory
 * first, ~0.13 ns a byte in all (a copy out of shared memory is slow). {@link countNewlinesScalar}, ~0.5 ns a byte,
 * is the fallback.
 */
export function countNewlines(bytes: Uint8Array): number {
  if (bytes.length < SIMD_MIN_BYTES) return countNewlinesScalar(bytes);
  const here = inPlace.get(bytes.buffer);
  if (here) return here.count(bytes.byteOffset, bytes.length >>> 4) + countTail(bytes, bytes.length & ~15);
  if (!scratch) return countNewlinesScalar(bytes);
  const copy = new Uint8Array(scratch.memory, 0, SCRATCH_BYTES);
  let total = 0;
  let at = 0;
  // Whole vectors through the counter, the last few bytes here.
  const vectorEnd = bytes.length & ~15;
  while (at < vectorEnd) {
    const length = Math.min(SCRATCH_BYTES, vectorEnd - at);
    copy.set(bytes.subarray(at, at + length));
    total += scratch.count(0, length >>> 4);
    at += length;
  }
  return total + countTail(bytes, at);
}

/** Whether {@link countNewlines} counts `bytes` where they are (they live in memory from {@link countableMemory}). */
export function countsInPlace(bytes: Uint8Array): boolean {
  return inPlace.has(bytes.buffer);
}

function countTail(bytes: Uint8Array, from: number): number {
  let count = 0;
  for (let at = from; at < bytes.length; at++) if (bytes[at] === LF) count++;
  return count;
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

/** Words read little end first put the first byte lowest, which {@link findNewlines} relies on. */
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Writes where each `\n` of `bytes` is into `into`, in order, and returns how many there are; `into` must have
 * room for them all. A worker splits every block with it: four bytes per step as in {@link countNewlinesScalar},
 * a third of the cost per line of one `indexOf` call per line (~25 against ~80 ns on short lines).
 */
export function findNewlines(bytes: Uint8Array, into: Uint32Array): number {
  const end = bytes.length;
  let found = 0;
  let i = 0;
  if (!LITTLE_ENDIAN) {
    for (let at = bytes.indexOf(LF); at !== -1; at = bytes.indexOf(LF, at + 1)) into[found++] = at;
    return found;
  }
  const head = Math.min(end, (4 - (bytes.byteOffset & 3)) & 3);
  for (; i < head; i++) if (bytes[i] === LF) into[found++] = i;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const x = view[k]! ^ 0x0a0a0a0a;
      let zero = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
      // One high bit per `\n`; the lowest is the first byte.
      while (zero !== 0) {
        into[found++] = i + 4 * k + ((31 - Math.clz32(zero & -zero)) >>> 3);
        zero &= zero - 1;
      }
    }
    i += 4 * words;
  }
  for (; i < end; i++) if (bytes[i] === LF) into[found++] = i;
  return found;
}

/** Whether {@link countNewlines} runs on WebAssembly SIMD here. */
export const simdNewlines = scratch !== undefined;
