import { InvalidOptionError } from './errors.js';

/**
 * `value` when it is a whole number of at least `min`; else an `InvalidOptionError` that names the option and what
 * it was given. The one check of every count option of the library's classes and functions (CLI flags have theirs,
 * `wholeNumberFlag`, as they arrive as text).
 */
export function wholeNumberOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be a whole number of at least ${min}, got ${String(value)}`);
  }
  return value;
}
