// The trivial workload: route on the event type, count. The bare loop in bench/pipeline.js runs the same
// matcher and handler without the framework.
import { JsonMessage, Processor } from 'missive-node';

export const isPlaced = (event) => event.type === 'order.placed';
export const isOther = (event) => event.type !== 'order.placed';
let handled = 0;
export const handle = () => {
  handled++;
};

// bench/pipeline.js runs each workload with the matchers in the main thread (the default) and in the workers.
const matchInWorkers = process.env.BENCH_MATCH_IN_WORKERS === '1';
const processor = new Processor(JsonMessage, { name: 'bench-trivial', matchInWorkers });
processor.handleFor((m) => isPlaced(m.getJson()), (m) => handle(m.getJson()));
processor.handleFor((m) => isOther(m.getJson()), (m) => handle(m.getJson()));
export default processor;
