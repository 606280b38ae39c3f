import type { Message } from './message.js';
import type { HandlerContext, ProcessingContext } from './context.js';

/**
 * The lifecycle, declared as data. Processing hooks run once per thread that runs handlers (open a database pool
 * in `beforeProcessing`, close it in `afterProcessing`); handling hooks run around every handler, where it runs.
 */
export const PROCESSING_HOOKS = ['beforeProcessing', 'afterProcessing'] as const;
export const HANDLING_HOOKS = ['beforeHandling', 'afterHandling'] as const;

export type ProcessingHookName = (typeof PROCESSING_HOOKS)[number];
export type HandlingHookName = (typeof HANDLING_HOOKS)[number];

/** Runs once per thread, before its first message or after its last. */
export type ProcessingHook = (processing: ProcessingContext) => void | Promise<void>;

/**
 * Runs around each handler. `afterHandling` runs even when the handler threw: `ctx.error` then holds the error.
 * A hook that throws makes the message a dead letter with reason `hook failed`.
 */
export type HandlingHook<M extends Message<unknown>> = (message: M, ctx: HandlerContext) => void | Promise<void>;

/** The hooks registered on a processor, in registration order. */
export interface HookTable<M extends Message<unknown>> {
  readonly beforeProcessing: ProcessingHook[];
  readonly afterProcessing: ProcessingHook[];
  readonly beforeHandling: HandlingHook<M>[];
  readonly afterHandling: HandlingHook<M>[];
}

export function emptyHookTable<M extends Message<unknown>>(): HookTable<M> {
  return { beforeProcessing: [], afterProcessing: [], beforeHandling: [], afterHandling: [] };
}
