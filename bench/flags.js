// Reading the benches' numeric flags: one rule and one message for all of them.

/** `value` as a whole number of at least `min`, or an error naming the flag `--name`. */
export function wholeNumber(name, value, min = 1) {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`--${name} must be a whole number of at least ${min}, got ${value}`);
  return n;
}
