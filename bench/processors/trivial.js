// The trivial workload as a processor: route on the input's two matchers, count.
import { benchProcessor } from './bench-processor.js';
import { trivial } from './workloads.js';

export default benchProcessor('bench-trivial', trivial);
