import { isRetryable } from '../errors.js';
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
    ctx.fail(Reasons.handlerFailed, error, isRetryable(error));
    return ctx.finish();
  }
  if (isPromiseLike(result)) {
    return Promise.resolve(result).then(
      () => ctx.finish(),
      (error: unknown) => {
        ctx.fail(Reasons.handlerFailed, error, isRetryable(error));
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
      ctx.fail(Reasons.hookFailed, error, isRetryable(error));
      ready = false;
      break;
    }
  }
  if (ready) {
    try {
      await route.handler(message, ctx);
    } catch (error) {
      ctx.fail(Reasons.handlerFailed, error, isRetryable(error));
    }
  }
  // afterHandling is the place for cleanup, so it runs whatever happened before it.
  for (const hook of hooks.afterHandling) {
    try {
      await hook(message, ctx);
    } catch (error) {
      ctx.fail(Reasons.hookFailed, error, isRetryable(error));
    }
  }
  return ctx.finish();
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
