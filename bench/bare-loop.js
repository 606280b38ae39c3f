// The baseline: one thread, split2 + JSON.parse + the same two matchers and handler as the processors, no framework
// (not even imported, so its start-up is node's alone).
// Usage: BENCH_INPUT=short|orders node bench/bare-loop.js <trivial|cpu> <input file>
// Prints one JSON line with the figures.
import { createReadStream } from 'node:fs';
import split2 from 'split2';
import { input as shape } from './processors/inputs.js';
import * as workloads from './processors/workloads.js';

const [workload, input] = process.argv.slice(2);
const handle = workloads[workload];
if (typeof handle !== 'function') throw new Error(`bare loop: no workload "${workload}" (have: trivial, cpu)`);
const { first, rest } = shape;
const started = process.hrtime.bigint();
let messages = 0;
for await (const line of createReadStream(input).pipe(split2())) {
  if (line.length === 0) continue;
  const event = JSON.parse(line);
  // Both matchers run, as the framework runs every matcher to catch a message that two handlers claim.
  const a = first(event);
  const b = rest(event);
  if (a !== b) handle(event);
  messages++;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`${JSON.stringify({ messages, seconds, peakRssMb })}\n`);
