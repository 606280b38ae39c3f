// The inputs the benches run on, each with the two matchers that split it and the integer the CPU-bound handler is
// seeded with. BENCH_INPUT picks one (default `short`); every thread reads the same environment, so the main
// thread, the workers and the bare loop all route with the same functions.
const LABELS = ['sign-up', 'login', 'purchase', 'refund', 'logout'];
const TYPES = ['order.placed', 'order.cancelled', 'customer.updated'];

export const INPUTS = {
  // The line input of issue 9: short lines, so per-message overhead shows rather than parsing.
  short: {
    line: (i) => `{"id":${i + 1},"label":"${LABELS[i % LABELS.length]}","n":${((i + 1) * 7919) % 100_003}}`,
    first: (event) => event.label === 'sign-up',
    rest: (event) => event.label !== 'sign-up',
    seed: (event) => event.id ^ event.n,
    id: (event) => event.id,
  },
  // Nested order events, as the README's earlier figures were measured on.
  orders: {
    line: (i) => JSON.stringify({ type: TYPES[i % 3], order: { id: i, totalCents: 1000 + (i % 97) } }),
    first: (event) => event.type === 'order.placed',
    rest: (event) => event.type !== 'order.placed',
    seed: (event) => event.order.id,
    id: (event) => event.order.id,
  },
};

const name = process.env.BENCH_INPUT ?? 'short';
if (!INPUTS[name]) throw new Error(`BENCH_INPUT=${name}: expected one of ${Object.keys(INPUTS).join(', ')}`);
export const input = INPUTS[name];
