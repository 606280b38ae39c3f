import { UsageError } from '../errors.js';

/** `missive dlq`: placeholder until the dead-letter tools land. */
export async function dlqCommand(_argv: readonly string[]): Promise<number> {
  throw new UsageError('missive dlq is not available in this build yet');
}
