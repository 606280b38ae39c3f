// The baseline: one thread, split2 + JSON.parse + the workload's matchers and handler, no framework.
// Usage: node bench/bare-loop.js <workload module> <input file>; prints one JSON line with the figures.
import { createReadStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import split2 from 'split2';

const [modulePath, input] = process.argv.slice(2);
const { isPlaced, isOther, handle } = await import(pathToFileURL(resolve(modulePath)).href);
const started = process.hrtime.bigint();
let messages = 0;
for await (const line of createReadStream(input).pipe(split2())) {
  if (line.length === 0) continue;
  const event = JSON.parse(line);
  const a = isPlaced(event);
  const b = isOther(event);
  if (a !== b) handle(event);
  messages++;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ messages, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
