/**
 * Every error missive-node raises on purpose is a MissiveError with a stable `code`, so callers can branch on
 * the code and users can search for it. Messages say what went wrong and what to do about it.
 */
export class MissiveError extends Error {
  /** Stable identifier, `MISSIVE_ERR_*`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MissiveError';
    this.code = code;
  }
}

/** The same matcher object was registered twice with `handleFor`. */
export class DuplicateMatcherError extends MissiveError {
  constructor(handlerName: string) {
    super(
      'MISSIVE_ERR_DUPLICATE_MATCHER',
      `this matcher is already registered (for handler "${handlerName}"); register each matcher once, ` +
        'or wrap it in a new function if two handlers really must share a rule',
    );
  }
}

/** A processor option or argument is invalid. */
export class InvalidOptionError extends MissiveError {
  constructor(message: string) {
    super('MISSIVE_ERR_INVALID_OPTION', message);
  }
}

/**
 * A message body could not be decoded by the processor's message class. Wherever it is thrown (a matcher, a hook,
 * a handler), its message is a dead letter `decode failed`, without retries: the same bytes decode no better.
 */
export class DecodeError extends MissiveError {
  readonly retryable = false;
  constructor(messageClass: string, cause: unknown) {
    super('MISSIVE_ERR_DECODE', `${messageClass} could not decode the message body: ${describe(cause)}`, { cause });
  }
}

/**
 * A message could not be processed and no dead-letter store was set to keep it. Raised by the test client, so a
 * test sees the failure; `reason` is the dead-letter reason it would have been stored with.
 */
export class UnprocessableMessageError extends MissiveError {
  readonly reason: string;
  constructor(reason: string, detail: string | null, options?: { cause?: unknown }) {
    super(
      'MISSIVE_ERR_UNPROCESSABLE',
      `message could not be processed: ${reason}${detail ? ` (${detail})` : ''}; ` +
        'fix the handler or routing, or call processor.setDlq(new MemoryDlq()) to collect dead letters instead',
      options,
    );
    this.reason = reason;
  }
}

/** The processor module given to the CLI or the worker pool is not usable. */
export class ProcessorModuleError extends MissiveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MISSIVE_ERR_PROCESSOR_MODULE', message, options);
  }
}

/** The dead-letter store cannot be opened or written. */
export class DlqError extends MissiveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MISSIVE_ERR_DLQ', message, options);
  }
}

/** The dead-letter file is held by another process. */
export class DlqLockedError extends MissiveError {
  readonly path: string;
  /** The processes holding the file, when /proc/locks tells. */
  readonly holders: readonly number[];
  constructor(path: string, options?: { cause?: unknown; holders?: readonly number[] }) {
    const holders = options?.holders ?? [];
    const who =
      holders.length > 0
        ? ` (process ${holders.join(', ')}: see what it is with ps -o pid,args -p ${holders.join(',')})`
        : '';
    super(
      'MISSIVE_ERR_DLQ_LOCKED',
      `the dead-letter file ${path} is in use by a running processor${who}; one file takes one writer: give each ` +
        'missive run a file of its own with --dlq, or stop that processor (or wait for it to finish) and try again',
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.path = path;
    this.holders = holders;
  }
}

/** A transport (broker, server) could not be reached or failed while in use. */
export class TransportError extends MissiveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MISSIVE_ERR_TRANSPORT', message, options);
  }
}

/** Command-line usage error: the CLI reports it and exits 2 before reading any input. */
export class UsageError extends MissiveError {
  constructor(message: string) {
    super('MISSIVE_ERR_USAGE', message);
  }
}

/** Text for an unknown thrown value: an Error's message, or the value as a string. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** An Error's stack (which starts with its message), or the value as a string. */
export function describeWithStack(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}

/** A `beforeProcessing` or `afterProcessing` hook threw: a thread could not be set up or torn down. */
export class ProcessingHookError extends MissiveError {
  constructor(hook: string, cause: unknown) {
    super(
      'MISSIVE_ERR_PROCESSING_HOOK',
      `${hook} hook failed: ${describe(cause)}; no message is handled in a thread whose setup failed, fix the hook`,
      { cause },
    );
  }
}

/**
 * Throw it from a handler to say that trying again cannot help (a malformed order, a rejected card): the message
 * becomes a dead letter at once, without retries. Any error with `retryable: false` is treated the same.
 */
export class PermanentError extends MissiveError {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super('MISSIVE_ERR_PERMANENT', message, options);
    this.name = 'PermanentError';
  }
}

/** A handler ran past its timeout. `ctx.signal` is aborted with this error. */
export class TimeoutError extends MissiveError {
  readonly timeoutMs: number;
  constructor(handler: string, timeoutMs: number) {
    super(
      'MISSIVE_ERR_TIMEOUT',
      `handler "${handler}" ran longer than ${timeoutMs} ms; make it faster, pass ctx.signal to what it waits on, ` +
        'or raise its timeout option (or --timeout)',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** Whether trying again might succeed: false for a `PermanentError` or any error marked `retryable: false`. */
export function isRetryable(error: unknown): boolean {
  return !(typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false);
}

/**
 * The dead-letter file is locked by another process that does not answer for it on its socket: not a running
 * `missive run` of this version (which would), or one that has stopped answering.
 */
export class DlqUnreachableError extends MissiveError {
  readonly path: string;
  /** The processes holding the file, when /proc/locks tells. */
  readonly holders: readonly number[];
  constructor(path: string, holders: readonly number[], socketPath: string, options?: { cause?: unknown }) {
    const who =
      holders.length > 0
        ? `process ${holders.join(', ')} holds it (see what it is with: ps -o pid,args -p ${holders.join(',')})`
        : 'another process holds it';
    super(
      'MISSIVE_ERR_DLQ_UNREACHABLE',
      `the dead-letter file ${path} is locked and nobody answers for it on ${socketPath}: ${who}. A missive run ` +
        'of this version answers there while it holds the file; if that process is another program using DuckDB ' +
        '(or an older missive), stop it or wait for it to finish, then run this command again',
      options,
    );
    this.path = path;
    this.holders = holders;
  }
}

/**
 * The directory of the dead-letter sockets, or a socket in it, is not this user's own and private: another user
 * could be listening there and answer for the user's store. Neither `missive run` serves nor `missive dlq`
 * connects there.
 */
export class DlqSocketUnsafeError extends MissiveError {
  /** The directory or socket that failed the check. */
  readonly path: string;
  constructor(path: string, why: string) {
    super(
      'MISSIVE_ERR_DLQ_SOCKET_UNSAFE',
      `${path} ${why}, so another user could answer there for your dead-letter store: missive neither serves nor ` +
        `connects there. Remove ${path} (as its owner, or root) and missive creates it again (mode 0700), or set ` +
        'TMPDIR to a directory of your own',
    );
    this.path = path;
  }
}

/** Something was used after it was ended or closed: a `MemoryAdapter` after `end()`, a test client after `close()`. */
export class ClosedError extends MissiveError {
  constructor(message: string) {
    super('MISSIVE_ERR_CLOSED', message);
  }
}
