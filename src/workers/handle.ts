import { DecodeError, isRetryable } from '../errors.js';
import type { HookTable } from '../hooks.js';
import type { Message } from '../message.js';
import { Reasons, type Outcome } from '../outcome.js';
import type { Route } from '../processor.js';
import type { MessageContext } from './context.js';

/**
 * Runs one message through its handler and the handling hooks, and returns its outcome. Stays synchronous when
 * there are no hooks and the handler is synchronous: most handlers are, and a promise per message would cost more
 * than the handler.
 */
export function handleMessage<M extends Message<unknown>>(
  hooks: HookTable<M>,
  route: Route<M>,
  message: M,
  ctx: MessageContext,
): Outcome | Promise<Outcome> {
  if (hooks.beforeHandling.length > 0 || hooks.afterHandling.length > 0) {
    return handleWithHooks(hooks, route, message, ctx);
  }
  let result: unknown;
  try {
    result = route.handler(message, ctx);
  } catch (error) {
    fail(ctx, Reasons.handlerFailed, error);
    return ctx.finish();
  }
  if (isPromiseLike(result)) {
    return Promise.resolve(result).then(
      () => ctx.finish(),
      (error: unknown) => {
        fail(ctx, Reasons.handlerFailed, error);
        return ctx.finish();
      },
    );
  }
  return ctx.finish();
}

async function handleWithHooks<M extends Message<unknown>>(
  hooks: HookTable<M>,
  route: Route<M>,
  message: M,
  ctx: MessageContext,
): Promise<Outcome> {
  let ready = true;
  for (const hook of hooks.beforeHandling) {
    try {
      await hook(message, ctx);
    } catch (error) {
      fail(ctx, Reasons.hookFailed, error);
      ready = false;
      break;
    }
  }
  if (ready) {
    try {
      await route.handler(message, ctx);
    } catch (error) {
      fail(ctx, Reasons.handlerFailed, error);
    }
  }
  // afterHandling is the place for cleanup, so it runs whatever happened before it.
  for (const hook of hooks.afterHandling) {
    try {
      await hook(message, ctx);
    } catch (error) {
      fail(ctx, Reasons.hookFailed, error);
    }
  }
  return ctx.finish();
}

/** Records what a handler or hook threw; a body its message class cannot decode is `decode failed`, whoever asked. */
function fail(ctx: MessageContext, reason: string, error: unknown): void {
  ctx.fail(error instanceof DecodeError ? Reasons.decodeFailed : reason, error, isRetryable(error));
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
