// The processor every bench workload builds: two routes that split the input, the same handler behind both.
import { JsonMessage, Processor } from 'missive-node';
import { input } from './inputs.js';

// BENCH_MATCH_IN_WORKERS=0 opts out of matching in the workers, =1 opts in; unset passes no option at all, so the
// bench measures the processor's real default rather than a copy of it.
function matchOption() {
  const value = process.env.BENCH_MATCH_IN_WORKERS;
  if (value === undefined || value === '') return {};
  if (value !== '0' && value !== '1') throw new Error(`BENCH_MATCH_IN_WORKERS=${value}: expected 0, 1 or unset`);
  return { matchInWorkers: value === '1' };
}

export function benchProcessor(name, handle) {
  const processor = new Processor(JsonMessage, { name, ...matchOption() });
  processor.handleFor(
    (m) => input.first(m.getJson()),
    (m) => handle(m.getJson()),
  );
  processor.handleFor(
    (m) => input.rest(m.getJson()),
    (m) => handle(m.getJson()),
  );
  return processor;
}
