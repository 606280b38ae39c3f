// The CPU-bound workload, recording the id of every message it handles so bench/scale-out.js can count the ones
// lost or handled twice. Each thread appends to a file of its own (BENCH_RECORD, then the thread id), so writers
// never interleave. Ids are written once per batch: the first id of a batch queues a microtask, which runs when the
// worker's synchronous pass over the batch ends, before the worker reports back. A timer would not do: an idle
// pool worker waits for its next task in Atomics.wait, so its timers do not fire until a task comes.
import { appendFileSync } from 'node:fs';
import { benchProcessor } from './bench-processor.js';
import { input } from './inputs.js';
import { cpu } from './workloads.js';

const prefix = process.env.BENCH_RECORD;
if (!prefix) throw new Error('BENCH_RECORD: set it to the path prefix the handled ids are recorded under');

let file;
let ids = [];
function flush() {
  if (ids.length === 0) return;
  appendFileSync(file, `${ids.join('\n')}\n`);
  ids = [];
}

const processor = benchProcessor('bench-cpu-recorded', (event) => {
  cpu(event);
  if (ids.push(input.id(event)) === 1) queueMicrotask(flush);
});
processor.beforeProcessing(({ threadId }) => {
  file = `${prefix}-${threadId}.ids`;
  appendFileSync(file, '');
});
// Whatever a batch cut short by shutdown left behind.
processor.afterProcessing(flush);
export default processor;
