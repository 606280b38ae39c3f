import type { Dlq } from './dlq/dlq.js';
import { DuplicateMatcherError, InvalidOptionError } from './errors.js';
import { emptyHookTable, type HandlingHook, type HookTable, type ProcessingHook } from './hooks.js';
import { RawMessage, type Message, type MessageClass } from './message.js';
import { UNROUTED } from './routing.js';
import type { Handler, HandlerOptions, Matcher, Route } from './route.js';

/** A processor module, loaded in this thread. */
export interface LoadedProcessor {
  readonly processor: Processor<Message<unknown>>;
  /** The URL workers import. */
  readonly url: string;
}

export type { Handler, HandlerOptions, Matcher, Route } from './route.js';

/** Options for a processor. */
export interface ProcessorOptions {
  /** Names this processor in logs and in dead letters' fingerprint. Default `missive`. */
  readonly name?: string;
  /**
   * This processor's version (your package's, a build id), in logs, metrics and dead letters' fingerprint, so a
   * letter says which build failed it. Default: missive-node's own version.
   */
  readonly version?: string;
  /**
   * Run the matchers in the worker threads, next to the handlers (the default). A message is then decoded once,
   * where it is handled, and the main thread only reads, hands over and settles: line input goes to the workers
   * as blocks of bytes, so the main thread never visits a line and stops bounding how many cores a run can use.
   *
   * Set it to false for matchers that read state the main thread changes at run time: each thread has its own
   * copy of the module, so such a matcher would see the worker's copy. Routing then happens in the main thread,
   * line input is split there, and a run is slower (the README's Performance section has figures). Routing
   * failures become the same dead letters either way. Without worker threads (`threads: 0`, the test client)
   * matchers run in the calling thread regardless. Default true.
   */
  readonly matchInWorkers?: boolean;
}

/** Lets a worker thread recognise a processor built by another copy of this package. */
const PROCESSOR_BRAND = Symbol.for('missive-node.processor');

/**
 * A set of routes from matchers to handlers, plus hooks and a dead-letter store. A processor module's default
 * export is one of these; the CLI loads it in the main thread (matchers) and in every worker (handlers), so routes
 * must be registered at module top level, the same on every import.
 *
 * @example
 * const processor = new Processor(JsonMessage);
 * processor.handleFor((m) => m.getJson().type === 'order', async (m, ctx) => { ... });
 * export default processor;
 */
export class Processor<M extends Message<unknown> = RawMessage> {
  /** The class every message is built with. */
  readonly MessageClass: MessageClass<M>;
  readonly name: string;
  /** See {@link ProcessorOptions.version}; undefined when not given. */
  readonly version: string | undefined;
  /** Whether the worker threads run the matchers (see {@link ProcessorOptions.matchInWorkers}). */
  readonly matchInWorkers: boolean;
  readonly #routes: Route<M>[] = [];
  readonly #hooks: HookTable<M> = emptyHookTable<M>();
  #dlq: Dlq | undefined;

  constructor(MessageClass?: MessageClass<M>, options: ProcessorOptions = {}) {
    this.MessageClass = MessageClass ?? (RawMessage as unknown as MessageClass<M>);
    this.name = options.name ?? 'missive';
    if (options.version !== undefined && (typeof options.version !== 'string' || options.version === '')) {
      throw new InvalidOptionError(
        `new Processor(..., { version }): must be a non-empty string, got ${String(options.version)}`,
      );
    }
    this.version = options.version;
    if (options.matchInWorkers !== undefined && typeof options.matchInWorkers !== 'boolean') {
      throw new InvalidOptionError(
        `new Processor(..., { matchInWorkers }): must be true or false, got ${String(options.matchInWorkers)}`,
      );
    }
    this.matchInWorkers = options.matchInWorkers ?? true;
    (this as Record<symbol, unknown>)[PROCESSOR_BRAND] = true;
  }

  /**
   * Routes the messages `matcher` accepts to `handler`, and returns the handler (so it can be exported and
   * tested on its own). Registering the same matcher object twice is an error.
   */
  handleFor<H extends Handler<M>>(matcher: Matcher<M>, handler: H, options: HandlerOptions = {}): H {
    if (typeof matcher !== 'function') {
      throw new InvalidOptionError(
        'handleFor(matcher, handler): the matcher must be a function of a message returning a boolean',
      );
    }
    if (typeof handler !== 'function') {
      throw new InvalidOptionError(
        'handleFor(matcher, handler): the handler must be a function (message, ctx) => void',
      );
    }
    if (isAsyncFunction(matcher)) {
      throw new InvalidOptionError(
        `handleFor: the matcher${matcher.name ? ` ${matcher.name}` : ''} of ${options.name ?? (handler.name || 'this handler')} ` +
          'is an async function, so it returns a Promise, which is always truthy: every message would match. A ' +
          'matcher must answer true or false at once from the message; do the async work in the handler',
      );
    }
    checkHandlerOptions(options);
    const index = this.#routes.length;
    // Batches carry route numbers in 16 bits, the highest meaning "not routed yet".
    if (index >= UNROUTED) throw new InvalidOptionError(`a processor can hold at most ${UNROUTED} handlers`);
    const name = options.name ?? (handler.name || `handler#${index}`);
    const taken = this.#routes.find((route) => route.matcher === matcher);
    if (taken) throw new DuplicateMatcherError(taken.name);
    this.#routes.push({ index, name, matcher, handler, options });
    return handler;
  }

  /** Runs once in every thread that runs handlers, before its first message. */
  beforeProcessing(hook: ProcessingHook): this {
    return this.#addHook('beforeProcessing', hook);
  }

  /** Runs once in every thread that ran `beforeProcessing`, when processing ends. */
  afterProcessing(hook: ProcessingHook): this {
    return this.#addHook('afterProcessing', hook);
  }

  /** Runs before every handler, in the handler's thread. */
  beforeHandling(hook: HandlingHook<M>): this {
    return this.#addHook('beforeHandling', hook);
  }

  /** Runs after every handler, even one that threw (`ctx.error` holds the error). */
  afterHandling(hook: HandlingHook<M>): this {
    return this.#addHook('afterHandling', hook);
  }

  /**
   * Where unprocessable messages are stored. The CLI and `run()` use it unless given a store; the test client
   * never does (each client has a store of its own, so a test cannot write to this one or leak into the next).
   */
  setDlq(dlq: Dlq): this {
    this.#dlq = dlq;
    return this;
  }

  /** The dead-letter store, if one is set. */
  get dlq(): Dlq | undefined {
    return this.#dlq;
  }

  /** The routes, in registration order. */
  get routes(): readonly Route<M>[] {
    return this.#routes;
  }

  /** The hooks, in registration order. */
  get hooks(): Readonly<HookTable<M>> {
    return this.#hooks;
  }

  #addHook(name: keyof HookTable<M>, hook: unknown): this {
    if (typeof hook !== 'function') throw new InvalidOptionError(`${name}(hook): the hook must be a function`);
    (this.#hooks[name] as unknown[]).push(hook);
    return this;
  }
}

/** Whether a value is a Processor, also one built by another copy of missive-node (a worker's import). */
export function isProcessor(value: unknown): value is Processor<Message<unknown>> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROCESSOR_BRAND] === true;
}

function checkHandlerOptions(options: HandlerOptions): void {
  for (const key of ['retries', 'timeout'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isInteger(value) && value >= (key === 'timeout' ? 1 : 0))) {
      throw new InvalidOptionError(
        `handleFor option ${key} must be a whole number${key === 'timeout' ? ' of ms, at least 1' : ' of at least 0'}, got ${String(value)}`,
      );
    }
  }
}

/** An `async function` or `async () =>`: its result is a Promise whatever it computes. */
export function isAsyncFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'AsyncFunction';
}
