/** What every worker gets at start (Piscina's `workerData`). */
export interface PoolWorkerData {
  /** Where workers count the stray errors they catch; the main thread reads it for the run's figures. */
  readonly strays: Int32Array;
  /**
   * The main thread's route table: a worker whose import of the module registers other routes (another order,
   * other options, one more or one less) refuses every task, naming the first difference.
   */
  readonly routes: readonly RouteSignature[];
  /**
   * The name of the `BroadcastChannel` on which workers send the stray errors they catch (`StrayError`s), so the
   * run logs them as it logs those of the main thread.
   */
  readonly reports: string;
}

/**
 * The messages between the main thread and the workers, typed once: what a task carries and what a worker answers.
 */
import type { DeliveryMeta } from '../delivery.js';
import type { LineBlock } from '../line-block.js';
import type { RouteSignature } from '../route-table.js';
import type { BlockResult } from './block.js';
import type { Reply, Warning } from './runtime.js';
import type { HandlerTiming } from './timings.js';

/**
 * The wire format of a batch between the main thread and a worker. Bodies travel as one buffer that is
 * transferred, not copied; metadata objects that repeat (every line of stdin shares one) travel once.
 */
export interface BatchTask {
  readonly kind: 'batch';
  readonly moduleUrl: string;
  readonly bodies: Uint8Array;
  /** Body i is `bodies[offsets[i]..offsets[i+1]]`. */
  readonly offsets: Uint32Array;
  readonly routes: Uint16Array;
  readonly attempts: Uint16Array;
  /** All ids joined: one string clones far faster than hundreds of small ones. */
  readonly ids: string;
  /** Id i is `ids.slice(idEnds[i-1], idEnds[i])`. */
  readonly idEnds: Uint32Array;
  readonly metas: DeliveryMeta[];
  /** Index into `metas` per message. */
  readonly metaIndex: Uint32Array;
  /** Shared progress marks, one per message (see `PROGRESS_*`). */
  readonly progress: Int32Array;
  /** Shared, when messages come `UNROUTED`: the route the worker picked for each (see `ROUTE_*`). */
  readonly routed?: Int32Array;
  /** Shared: which message holds the worker's thread (see `BatchMarks.running`). */
  readonly running: Int32Array;
  /** The run's timeout for handlers that set none, in ms; 0 for none. */
  readonly defaultTimeoutMs: number;
  /** Whether to time the handlers (metrics are on). */
  readonly measure: boolean;
}

/** Asks every worker to run `afterProcessing` (see `PoolExecutor.close`). */
export interface StopTask {
  readonly kind: 'stop';
  readonly moduleUrl: string;
  /** A shared counter used as a barrier, so each worker takes exactly one stop task. */
  readonly barrier: Int32Array;
  readonly workers: number;
}

/**
 * A block of lines: the worker splits it into messages, routes and runs them. Nothing is transferred: the block's
 * bytes are shared, so the main thread can still read them if the worker dies.
 */
export interface BlockTask {
  readonly kind: 'block';
  readonly moduleUrl: string;
  readonly block: LineBlock;
  /** How many of its messages run at once (`--batch-size`). */
  readonly batchSize: number;
  /** Shared progress marks, one per message in the block's order (sized for its lines). */
  readonly progress: Int32Array;
  /** Shared: the route the worker picked for each message (see `ROUTE_*`). */
  readonly routed: Int32Array;
  /** Shared: which message holds the worker's thread, by its index in the block (see `BatchMarks.running`). */
  readonly running: Int32Array;
  readonly defaultTimeoutMs: number;
  readonly measure: boolean;
}

/**
 * Has a worker import the processor module and compare its route table with the main thread's, at pool start:
 * a module that registers other routes in workers fails the run before any input is read.
 */
export interface CheckTask {
  readonly kind: 'check';
  readonly moduleUrl: string;
}

/** A worker's answer to a check: nothing, or why the module cannot run there. */
export interface CheckAnswer {
  readonly fatal?: { readonly code: string; readonly message: string };
}

export type WorkerTask = BatchTask | BlockTask | StopTask | CheckTask;

/** A worker's answer to a block: counts plus what is not a plain ack. */
export interface BlockAnswer {
  readonly result?: BlockResult;
  /** How long the worker spent on the block, in ms. */
  readonly busyMs: number;
  /** As in {@link EncodedResult}. */
  readonly fatal?: { readonly code: string; readonly message: string };
}

/** A worker's answer. Acks, the common case, are one byte each; failures are listed separately. */
export interface EncodedResult {
  readonly codes: Uint8Array;
  readonly failures: { i: number; reason: string; error: string | null; retryable: boolean }[];
  readonly warnings: Warning[];
  readonly timings?: HandlerTiming[];
  readonly replies?: Reply[];
  /** How long the worker spent on the batch, in ms. */
  busyMs?: number;
  /** Set when the worker could not run the batch at all (module or hook failure): the run must stop. */
  readonly fatal?: { readonly code: string; readonly message: string };
}
