// The plain loop a user would write instead of missive-node: split2 'data' events, JSON.parse, the same two matchers
// and handler as the bench processors, one thread. Reads the file given, or standard input (a pipe or a redirect).
// The fastest baseline there is short of writing a splitter by hand; `for await` over the same lines (bare-loop.js)
// is much slower and is printed beside it, labelled, for reference only.
// Usage: BENCH_INPUT=short|orders node bench/plain-loop.js <trivial|cpu> [input file]
// Prints one JSON line: {"messages":N}.
import { createReadStream } from 'node:fs';
import split2 from 'split2';
import { input as shape } from './processors/inputs.js';
import * as workloads from './processors/workloads.js';

const [workload, file] = process.argv.slice(2);
const handle = workloads[workload];
if (typeof handle !== 'function') throw new Error(`plain loop: no workload "${workload}" (have: trivial, cpu)`);
const { first, rest } = shape;
let messages = 0;
(file ? createReadStream(file) : process.stdin)
  .pipe(split2())
  .on('data', (line) => {
    if (line.length === 0) return;
    const event = JSON.parse(line);
    // Both matchers run, as the framework runs every matcher to catch a message that two handlers claim.
    if (first(event) !== rest(event)) handle(event);
    messages++;
  })
  .on('end', () => process.stdout.write(`${JSON.stringify({ messages })}\n`));
