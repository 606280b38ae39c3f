import { DecodeError, describe, describeWithStack } from './errors.js';
import type { Message } from './message.js';
import { Reasons, deadLetter, type DeadLetterOutcome } from './outcome.js';
import type { Route } from './route.js';

/**
 * The route of a message not routed yet: the thread that runs it picks the route (a processor with
 * `matchInWorkers`). Fits the batch wire format's 16-bit route numbers.
 */
export const UNROUTED = 0xffff;

/**
 * Picks the one route for a message: the index of the only route whose matcher accepts it, or the dead letter it
 * becomes (no match, several matches, a matcher or the decoder threw). Never throws. Runs in the main thread, or in
 * the worker next to the handler when the processor sets `matchInWorkers`.
 */
export function chooseRoute<M extends Message<unknown>>(
  routes: readonly Route<M>[],
  message: M,
): number | DeadLetterOutcome {
  let chosen = -1;
  for (let i = 0; i < routes.length; i++) {
    let matched: boolean;
    try {
      matched = routes[i]!.matcher(message);
    } catch (error) {
      if (error instanceof DecodeError) return deadLetter(Reasons.decodeFailed, describe(error));
      return deadLetter(Reasons.matcherFailed, `matcher of "${routes[i]!.name}" threw: ${describeWithStack(error)}`);
    }
    if (matched !== true && matched !== false) {
      // A Promise (from a plain function), undefined (a missing return), a string: all would be taken as an answer.
      return deadLetter(
        Reasons.matcherFailed,
        `matcher of "${routes[i]!.name}" returned ${whatItIs(matched)}, not true or false; make it return a boolean`,
      );
    }
    if (!matched) continue;
    if (chosen >= 0) {
      return deadLetter(Reasons.multipleMatches, `matched by "${routes[chosen]!.name}" and "${routes[i]!.name}"`);
    }
    chosen = i;
  }
  return chosen >= 0 ? chosen : deadLetter(Reasons.noMatch, null);
}

/** A short description of a value that is not a boolean, for the dead letter. */
function whatItIs(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function') return 'a Promise';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  // Objects were described above: what is left (number, bigint, symbol, function) prints as itself.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  return `the ${typeof value} ${String(value)}`;
}
