import type { Message } from './message.js';
import type { Route } from './route.js';

/**
 * What a route looks like from outside: its name and options, in the order it was registered. The main thread and
 * every worker import the processor module separately, so each builds its own table; they must agree, or a
 * message routed in one thread would run another thread's handler.
 */
export interface RouteSignature {
  readonly name: string;
  /** The options, as canonical text (keys sorted; a function shows as `function <name>`). */
  readonly options: string;
}

/** The signatures of a processor's routes, in registration order: small and cloneable, for a worker to compare. */
export function routeTableOf<M extends Message<unknown>>(routes: readonly Route<M>[]): RouteSignature[] {
  return routes.map((route) => ({ name: route.name, options: optionsText(route.options) }));
}

/**
 * The first difference between the main thread's table and a worker's, said so that someone can find the handler
 * in question; undefined when they agree.
 */
export function routeTableDifference(
  main: readonly RouteSignature[],
  worker: readonly RouteSignature[],
): string | undefined {
  for (let i = 0; i < Math.max(main.length, worker.length); i++) {
    const here = main[i];
    const there = worker[i];
    if (here === undefined) return `route ${i} "${there!.name}" is registered in the worker only`;
    if (there === undefined) return `route ${i} "${here.name}" is registered in the main thread only`;
    if (here.name !== there.name)
      return `route ${i} is "${here.name}" in the main thread but "${there.name}" in the worker`;
    if (here.options !== there.options) {
      return `route ${i} "${here.name}" has options ${here.options} in the main thread but ${there.options} in the worker`;
    }
  }
  return undefined;
}

// The name is compared on its own; the rest is shown as `{retries: 3, timeout: 500}`, the same text in every thread.
function optionsText(options: object): string {
  const { name: _name, ...rest } = options as Record<string, unknown>;
  return valueText(rest);
}

function valueText(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  const entries = Object.entries(value).filter(([, inner]) => inner !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, inner]) => `${key}: ${valueText(inner)}`).join(', ')}}`;
}
