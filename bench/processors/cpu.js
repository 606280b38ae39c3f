// The CPU-bound workload as a processor: the handler, not the plumbing, dominates, so a second thread can only help.
import { benchProcessor } from './bench-processor.js';
import { cpu } from './workloads.js';

export default benchProcessor('bench-cpu', cpu);
