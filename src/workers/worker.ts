/**
 * The worker thread's entry, run by Piscina. It imports the processor module by URL (once per thread), checks that
 * it registers the main thread's routes, runs `beforeProcessing` once, rebuilds each batch's messages and runs them.
 */
// Piscina hands its workerData to the thread as Node's own, so the worker need not load Piscina to read it.
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { isConfidential } from '../confidential.js';
import { MissiveError, ProcessorModuleError, describe } from '../errors.js';
import type { Message } from '../message.js';
import { isProcessor, type Processor } from '../processor.js';
import { decodeBatch, encodeResult } from './batch.js';
import { runBlock } from './block.js';
import { ThreadRuntime, type Warning } from './runtime.js';
import { StrayErrorCatcher } from './stray-errors.js';
import { routeTableDifference, routeTableOf } from '../route-table.js';
import type { BlockAnswer, CheckAnswer, EncodedResult, PoolWorkerData, StopTask, WorkerTask } from './tasks.js';

const processors = new Map<string, Promise<Processor<Message<unknown>>>>();
const runtimes = new Map<string, Promise<ThreadRuntime<Message<unknown>>>>();

// Until the processor is imported nothing says its errors are safe to print.
let untiedIsConfidential = true;
const { strays, routes: mainRoutes, reports: reportsName } = workerData as PoolWorkerData;
const reports = new BroadcastChannel(reportsName);
reports.unref();
// A stray error would otherwise end this worker and send its whole task back to run again. Counted and sent at
// once, not with the task's answer: that may be long gone, or never come.
const catcher = new StrayErrorCatcher(
  (stray) => {
    Atomics.add(strays, 0, 1);
    reports.postMessage(stray);
  },
  () => untiedIsConfidential,
);

export default async function runTask(task: WorkerTask): Promise<EncodedResult | BlockAnswer | CheckAnswer | null> {
  if (task.kind === 'stop') return stopThread(task);
  if (task.kind === 'check') return processorFor(task.moduleUrl).then(() => null, fatal);
  let runtime: ThreadRuntime<Message<unknown>>;
  try {
    runtime = await runtimeFor(task.moduleUrl);
  } catch (error) {
    return fatal(error);
  }
  const { MessageClass } = runtime.processor;
  runtime.defaultTimeoutMs = task.defaultTimeoutMs;
  runtime.measure = task.measure;
  const started = performance.now();
  if (task.kind === 'block') {
    const result = await runBlock(runtime, task.block, task.batchSize, task);
    return { result, busyMs: performance.now() - started };
  }
  const encoded = encodeResult(await runtime.runBatch(decodeBatch(task, MessageClass), task));
  encoded.busyMs = performance.now() - started;
  return encoded;
}

/** Imports the module and checks its routes, once per module in this thread. */
function processorFor(moduleUrl: string): Promise<Processor<Message<unknown>>> {
  let processor = processors.get(moduleUrl);
  if (!processor) {
    processor = importProcessor(moduleUrl).then((imported) => {
      untiedIsConfidential = isConfidential(imported, null);
      const difference = routeTableDifference(mainRoutes, routeTableOf(imported.routes));
      if (difference !== undefined) {
        throw new ProcessorModuleError(
          `the processor module registers other routes in a worker thread than in the main thread: ${difference}. ` +
            'Register handlers at module top level, the same on every import: nothing may depend on isMainThread, ' +
            'the thread id or anything else that differs between threads',
        );
      }
      return imported;
    });
    processors.set(moduleUrl, processor);
  }
  return processor;
}

/** Imports the module, checks its routes and runs `beforeProcessing`, once per module in this thread. */
function runtimeFor(moduleUrl: string): Promise<ThreadRuntime<Message<unknown>>> {
  let runtime = runtimes.get(moduleUrl);
  if (!runtime) {
    runtime = (async () => {
      const processor = await processorFor(moduleUrl);
      const created = new ThreadRuntime(processor, threadId, reportLateWarning, catcher);
      await created.start();
      return created;
    })();
    runtimes.set(moduleUrl, runtime);
  }
  return runtime;
}

async function importProcessor(moduleUrl: string): Promise<Processor<Message<unknown>>> {
  const module = (await import(moduleUrl)) as { default?: unknown };
  if (!isProcessor(module.default)) {
    throw new ProcessorModuleError(
      `${moduleUrl} has no Processor as its default export; add "export default processor"`,
    );
  }
  return module.default;
}

/**
 * Runs `afterProcessing` in this thread. The barrier keeps this worker busy until every worker has taken its stop
 * task, so no worker takes two and none is missed.
 */
async function stopThread(task: StopTask): Promise<null> {
  Atomics.add(task.barrier, 0, 1);
  Atomics.notify(task.barrier, 0);
  const deadline = Date.now() + 5000;
  for (let seen = Atomics.load(task.barrier, 0); seen < task.workers && Date.now() < deadline;) {
    Atomics.wait(task.barrier, 0, seen, 50);
    seen = Atomics.load(task.barrier, 0);
  }
  const runtime = runtimes.get(task.moduleUrl);
  if (runtime) await (await runtime).stop();
  return null;
}

function fatal(error: unknown): EncodedResult {
  const code = error instanceof MissiveError ? error.code : 'MISSIVE_ERR_PROCESSOR_MODULE';
  return { codes: new Uint8Array(0), failures: [], warnings: [], fatal: { code, message: describe(error) } };
}

// A handler that kept its ctx and settled after its batch was returned: the batch's result is gone, so the
// report goes to stderr as one JSON line, the same shape the main thread logs.
function reportLateWarning(warning: Warning): void {
  process.stderr.write(`${JSON.stringify({ level: 'warn', msg: warning.text, id: warning.id, threadId })}\n`);
}
