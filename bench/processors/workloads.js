// The handlers the benches time, free of the framework so the bare loop can run them without loading it.
import { input } from './inputs.js';

// The count is the handler's work: a write the JIT cannot drop, never read.
// eslint-disable-next-line no-unused-vars
let handled = 0;
/** Counts: what is left is the cost of getting each message to a handler. */
export function trivial() {
  handled++;
}

// 2,500 rounds of a multiply-xorshift mix, about 4.5 µs on the 2-core bench machine. Integers only, no strings and
// no allocation: its cost is the same in any thread and under any heap, so what a run adds to it is the framework's.
const ROUNDS = 2500;
// Kept where the JIT cannot prove it unused, so the loop is not optimised away.
export let checksum = 0;
/** Seeded by the message, so no two messages do quite the same work. */
export function cpu(event) {
  let x = input.seed(event) | 0;
  for (let i = 0; i < ROUNDS; i++) x = (Math.imul(x ^ i, 2654435761) + (x >>> 13)) | 0;
  checksum ^= x;
}
