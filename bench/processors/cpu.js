// The CPU-bound workload: about 4 µs of pure-JS arithmetic per message on this machine (2,500 rounds of an
// integer mix), so the handler, not the plumbing, dominates.
import { JsonMessage, Processor } from 'missive-node';

const ROUNDS = 2500;
export const isPlaced = (event) => event.type === 'order.placed';
export const isOther = (event) => event.type !== 'order.placed';
export let checksum = 0;
export const handle = (event) => {
  let x = event.order.id | 0;
  for (let i = 0; i < ROUNDS; i++) x = (Math.imul(x ^ i, 2654435761) + (x >>> 13)) | 0;
  checksum ^= x;
};

// bench/pipeline.js runs each workload with the matchers in the main thread (the default) and in the workers.
const matchInWorkers = process.env.BENCH_MATCH_IN_WORKERS === '1';
const processor = new Processor(JsonMessage, { name: 'bench-cpu', matchInWorkers });
processor.handleFor((m) => isPlaced(m.getJson()), (m) => handle(m.getJson()));
processor.handleFor((m) => isOther(m.getJson()), (m) => handle(m.getJson()));
export default processor;
