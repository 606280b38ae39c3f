import { readFileSync } from 'node:fs';
import { UsageError, describe } from '../errors.js';

/**
 * The signature secret kept in `path`, so it stays out of the process list and shell history: the file's text
 * without its trailing newline (`\n` or `\r\n`, as `echo` and editors leave them). A file that cannot be read or
 * holds nothing else is a `UsageError` saying what to do.
 */
export function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--secret-file ${path} cannot be read (${describe(error)}); give the path of a readable file that holds ` +
        'the signature secret',
    );
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') {
    throw new UsageError(`--secret-file ${path} is empty; write the signature secret into it (one line)`);
  }
  return secret;
}
