/** Levels missive-node logs at. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * How the library reports what happens during a run: one call per event, with structured fields. The CLI passes a
 * pino logger through `pinoLog`; embedders can pass anything with this shape.
 */
export type Log = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Logs nothing: the default for embedded use, where the caller decides what to report. */
export const silentLog: Log = () => {};
