// The trivial workload: route on the event type, count. The bare loop in bench/pipeline.js runs the same
// matcher and handler without the framework.
import { JsonMessage, Processor } from 'missive-node';

export const isPlaced = (event) => event.type === 'order.placed';
export const isOther = (event) => event.type !== 'order.placed';
let handled = 0;
export const handle = () => {
  handled++;
};

const processor = new Processor(JsonMessage, { name: 'bench-trivial' });
processor.handleFor((m) => isPlaced(m.getJson()), (m) => handle(m.getJson()));
processor.handleFor((m) => isOther(m.getJson()), (m) => handle(m.getJson()));
export default processor;
