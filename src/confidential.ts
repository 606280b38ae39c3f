/**
 * The confidentiality rule, in one place. A confidential message's body, and any error text about it (errors often
 * quote what they choke on), never reach a log or a terminal unless someone asks (`--reveal`): the dead-letter
 * store keeps them, masked wherever a person could see them.
 */

/** What logs and warnings show instead of the text of an error about a confidential message. */
export const WITHHELD = '(error text withheld: confidential)';

/** What the rule reads of a processor: this module sits below the processor's, which it must not import. */
export interface ConfidentialityOf {
  readonly MessageClass: unknown;
  readonly routes: readonly { readonly options: { readonly confidential?: boolean } }[];
}

/**
 * Whether a message must be treated as confidential: its message class is (`static confidential = true`), its
 * handler is (`confidential: true`), or it has no handler (`route` null: unrouted, undecodable, or an error that
 * cannot be tied to a message) while any handler is, since it may well be one of that handler's messages.
 */
export function isConfidential(processor: ConfidentialityOf, route: number | null): boolean {
  if ((processor.MessageClass as { confidential?: unknown }).confidential === true) return true;
  if (route === null) return processor.routes.some((candidate) => candidate.options.confidential === true);
  return processor.routes[route]?.options.confidential === true;
}
