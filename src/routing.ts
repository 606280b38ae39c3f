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
    if (!matched) continue;
    if (chosen >= 0) {
      return deadLetter(Reasons.multipleMatches, `matched by "${routes[chosen]!.name}" and "${routes[i]!.name}"`);
    }
    chosen = i;
  }
  return chosen >= 0 ? chosen : deadLetter(Reasons.noMatch, null);
}
