import { isUtf8 } from 'node:buffer';
import type { DeadLetter, Fingerprint } from '../dlq/dlq.js';

/**
 * How `missive dlq` shows dead letters: one JSON shape for scripts (`export`, `list --json`, `show --json`), an
 * aligned table and a detail view for people. A confidential letter's body and error (which often quotes the body)
 * are masked everywhere unless the user passes `--reveal`.
 */

/** A dead letter as JSON: the body as UTF-8 text when it is valid UTF-8, else as base64, or masked. */
export interface LetterRecord {
  /** The letter's key in its store (`missive dlq show KEY`). */
  readonly key: string;
  readonly id: string;
  readonly reason: string;
  readonly error?: string | null;
  readonly handler: string | null;
  readonly source: string | null;
  /** Absent when masked. */
  readonly headers?: Record<string, unknown> | null;
  readonly attempts: number;
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  readonly fingerprint: Fingerprint | null;
  readonly confidential: boolean;
  /** Present when the body is valid UTF-8 and not masked. */
  readonly body?: string;
  /** Present when the body is not valid UTF-8 and not masked. */
  readonly bodyBase64?: string;
  /** True when the body, error and headers were left out because the letter is confidential and `--reveal` was not given. */
  readonly masked?: true;
}

/** Whether a letter's body, error and headers are withheld from output. */
export function isMasked(letter: DeadLetter, reveal: boolean): boolean {
  return letter.confidential && !reveal;
}

/** The JSON record of a letter (see {@link LetterRecord}). */
export function letterRecord(letter: DeadLetter, reveal: boolean): LetterRecord {
  const masked = isMasked(letter, reveal);
  const common = {
    key: letter.key,
    id: letter.id,
    reason: letter.reason,
    ...(masked ? {} : { error: letter.error }),
    handler: letter.handler,
    source: letter.source,
    ...(masked ? {} : { headers: letter.headers }),
    attempts: letter.attempts,
    firstFailedAt: letter.firstFailedAt.toISOString(),
    lastFailedAt: letter.lastFailedAt.toISOString(),
    fingerprint: letter.fingerprint,
    confidential: letter.confidential,
  };
  if (masked) return { ...common, masked: true };
  return isUtf8(letter.body)
    ? { ...common, body: letter.body.toString('utf8') }
    : { ...common, bodyBase64: letter.body.toString('base64') };
}

/** Column headings and cells of `missive dlq list`. */
const COLUMNS = ['ID', 'KEY', 'REASON', 'HANDLER', 'ATTEMPTS', 'LAST FAILED', 'BODY'] as const;

/** Characters of the body `list` shows. */
export const PREVIEW_CHARS = 60;

/** An aligned table of letters, one per line, with a heading line. */
export function renderTable(letters: readonly DeadLetter[], reveal: boolean): string {
  const rows = letters.map((letter) => [
    escapeText(letter.id),
    letter.key,
    escapeText(letter.reason),
    letter.handler === null ? '-' : escapeText(letter.handler),
    String(letter.attempts),
    shortTime(letter.lastFailedAt),
    isMasked(letter, reveal) ? '(confidential)' : bodyPreview(letter.body, PREVIEW_CHARS),
  ]);
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, column) => widest(all, (row) => [...row[column]!].length));
  return all
    .map((row) =>
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell + ' '.repeat(widths[column]! - [...cell].length),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Every field of one letter, for `missive dlq show`. */
export function renderLetter(letter: DeadLetter, reveal: boolean): string {
  const masked = isMasked(letter, reveal);
  const fields: [string, string][] = [
    ['id', escapeText(letter.id)],
    ['key', letter.key],
    ['reason', escapeText(letter.reason)],
    ['handler', letter.handler === null ? '-' : escapeText(letter.handler)],
    ['source', letter.source === null ? '-' : escapeText(letter.source)],
    ['attempts', String(letter.attempts)],
    ['first failed', letter.firstFailedAt.toISOString()],
    ['last failed', letter.lastFailedAt.toISOString()],
    ['written by', letter.fingerprint ? describeFingerprint(letter.fingerprint) : '-'],
    [
      'confidential',
      letter.confidential ? (masked ? 'yes: body, error and headers masked, add --reveal to see them' : 'yes') : 'no',
    ],
  ];
  const width = Math.max(...fields.map(([name]) => name.length)) + 2;
  const sections = [fields.map(([name, value]) => `${name.padEnd(width)}${value}`).join('\n')];
  // JSON.stringify escapes control characters itself.
  if (masked) sections.push('headers (confidential)');
  else sections.push(`headers\n${letter.headers === null ? '(none)' : JSON.stringify(letter.headers, null, 2)}`);
  sections.push(masked ? `body (${bytes(letter.body.length)}, confidential)` : renderBody(letter.body));
  if (masked) sections.push('error (confidential)');
  else sections.push(`error\n${letter.error === null ? '(none)' : escapeLines(letter.error)}`);
  return `${sections.join('\n\n')}\n`;
}

/**
 * The body as text when it is UTF-8 without control characters (other than tab and line ends), else as base64:
 * raw control bytes would drive the terminal (escape sequences), not show the content.
 */
function renderBody(body: Buffer): string {
  if (!isUtf8(body))
    return `body (${bytes(body.length)}, not valid UTF-8: shown as base64)\n${body.toString('base64')}`;
  const text = body.toString('utf8');
  if (CONTROL.test(text)) {
    return `body (${bytes(body.length)}, UTF-8 with control characters: shown as base64)\n${body.toString('base64')}`;
  }
  return `body (${bytes(body.length)}, UTF-8 text)\n${text}`;
}

/** Control characters that are not tab, line feed or carriage return. */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]/;

function bytes(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

function describeFingerprint(fingerprint: Fingerprint): string {
  const version = fingerprint.version ? `, missive-node ${fingerprint.version}` : '';
  return `${escapeText(fingerprint.name)} on ${escapeText(fingerprint.host)} (pid ${fingerprint.pid}${version})`;
}

/** The first `max` characters of a body on one line: non-printables escaped, bytes of invalid UTF-8 as `\xNN`. */
export function bodyPreview(body: Buffer, max: number): string {
  const pieces = isUtf8(body) ? [...body.toString('utf8')].map(escapeChar) : [...body].map(escapeByte);
  let out = '';
  let length = 0;
  for (const piece of pieces) {
    if (length + piece.length > max) return `${out}…`;
    out += piece;
    length += piece.length;
  }
  return out;
}

/** Text on one line with control characters escaped, so a cell cannot break or restyle the table. */
export function escapeText(text: string): string {
  return [...text].map(escapeChar).join('');
}

/** Like {@link escapeText}, but keeps line breaks: for a stack trace, which is read line by line. */
function escapeLines(text: string): string {
  return text.split('\n').map(escapeText).join('\n');
}

function escapeChar(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const code = char.codePointAt(0)!;
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code === 0x2028 || code === 0x2029) return `\\u${code.toString(16)}`;
  return char;
}

function escapeByte(byte: number): string {
  if (byte >= 0x20 && byte < 0x7f) return String.fromCharCode(byte);
  return byte === 0x0a || byte === 0x0d || byte === 0x09
    ? escapeChar(String.fromCharCode(byte))
    : `\\x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * The largest width of a column, by a loop: `Math.max(...cells)` passes every cell as an argument, and past about
 * 120,000 rows that overflows the call stack (`dlq sql` and `dlq list` crashed so).
 */
function widest<T>(rows: readonly T[], width: (row: T) => number): number {
  let most = 0;
  for (const row of rows) most = Math.max(most, width(row));
  return most;
}

/** A time to the second, in UTC, for table cells. */
function shortTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Any query result as an aligned text table; values shown as JSON, except plain strings. */
export function renderRows(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [
    columns.map((column) => escapeText(String(column))),
    ...rows.map((row) => row.map((v) => (typeof v === 'string' ? escapeText(v) : (JSON.stringify(v) ?? 'NULL')))),
  ];
  const widths = columns.map((_, i) => widest(cells, (row) => (row[i] ?? '').length));
  const lines = cells.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return `${lines.join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})`;
}
