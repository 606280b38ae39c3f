// The NATS adapter is written the way an adapter in another repository would be: it imports only names that the
// package root (`src/index.ts`) and `missive-node/adapters` (`src/adapters/index.ts`) export, from the files that
// define them (not from the index modules, which would make an import cycle). Keep it that way: it is the proof that
// the public kit is enough to write a transport.
import { InvalidOptionError } from '../errors.js';
import type { BackoffOptions } from '../retry.js';
import { brokerUrlProblem } from './broker-url.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './lines.js';
import type { CommonAdapterOptions } from './spec.js';
import { wholeNumberOption } from '../options.js';

/** Where the NATS adapter connects when no URL is given: a local server. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** The durable consumer's name when none is given. */
export const DEFAULT_NATS_CONSUMER = 'missive';
/** The fewest ms a pull request may wait for messages: the nats client refuses less. */
export const MIN_FETCH_WAIT_MS = 1000;
/** How long a pull request waits for messages when not told: an idle consumer sends one request every 5 s. */
export const DEFAULT_FETCH_WAIT_MS = 5000;

/** Options of a {@link NatsAdapter}. Only `stream` is required. */
export interface NatsAdapterOptions {
  /**
   * The server, `nats://[user:password@]host:port` (`tls://` for TLS; `nats://token@host:port` for a token).
   * Default `nats://127.0.0.1:4222`.
   */
  readonly url?: string;
  /** The JetStream stream to consume. */
  readonly stream: string;
  /**
   * Subjects the stream is created with when it does not exist (wildcards `*` and `>` allowed). Without them a
   * missing stream fails `open()`. An existing stream is left as it is.
   */
  readonly subjects?: readonly string[];
  /**
   * The durable pull consumer, created (explicit ack, from the start of the stream) when missing and reused when
   * present: processes that share it share the messages, and a restarted process picks up where it left off.
   * Default `missive`.
   */
  readonly consumer?: string;
  /** Only check that the stream and the consumer exist (a missing one fails `open()`); create nothing. Default false. */
  readonly passive?: boolean;
  /**
   * A message delivered more times than this is stored as a dead letter `too many deliveries` and terminated
   * (`term`), instead of coming back forever. Default 5.
   */
  readonly maxDeliveries?: number;
  /**
   * The consumer's `ack_wait` when it is created, in ms: a message fetched and not settled this long (its process
   * died) is delivered again. Keep it above the longest handling time. Default 30000.
   */
  readonly ackWaitMs?: number;
  /** How long a nacked message waits before it is delivered again, in ms. Default 0: at once. */
  readonly nakDelayMs?: number;
  /**
   * How long one pull request waits for messages before the next is sent, in ms (at least 1000). Default 5000.
   */
  readonly fetchWaitMs?: number;
  /** Connection attempts at open before giving up with a `TransportError`. Default 8 (about 18 s in all). */
  readonly connectAttempts?: number;
  /** Larger bodies become dead letters `message too large` (their first bytes kept). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** The connection's name on the server (`nats server report connections`). Default `missive:<host>-<pid>`. */
  readonly connectionName?: string;
  /** Where connection trouble is reported. Default: nowhere. */
  readonly log?: CommonAdapterOptions['log'];
}

/** {@link NatsAdapterOptions} checked, with their defaults applied. */
export interface ResolvedNatsOptions {
  readonly url: string;
  readonly stream: string;
  readonly subjects: readonly string[];
  readonly consumer: string;
  readonly passive: boolean;
  readonly maxDeliveries: number;
  readonly ackWaitMs: number;
  readonly nakDelayMs: number;
  readonly fetchWaitMs: number;
  readonly connectAttempts: number;
  readonly connectBackoff: BackoffOptions;
  readonly maxMessageBytes: number;
  readonly connectionName: string | undefined;
  readonly log: CommonAdapterOptions['log'];
}

/** Why `url` cannot be a NATS URL, or null when it can. */
export function natsUrlProblem(url: string): string | null {
  return brokerUrlProblem(url, { kind: 'NATS', protocols: ['nats:', 'tls:'], example: DEFAULT_NATS_URL });
}

/** Checks every option of the NATS adapter, in one place, and applies the defaults. */
export function resolveNatsOptions(options: NatsAdapterOptions): ResolvedNatsOptions {
  const url = options.url ?? DEFAULT_NATS_URL;
  const problem = natsUrlProblem(url);
  if (problem) throw new InvalidOptionError(problem);
  if (!options.stream) throw new InvalidOptionError('give the JetStream stream to consume (--stream)');
  const subjects = [...(options.subjects ?? [])];
  for (const subject of subjects) {
    if (subject === '' || /\s/.test(subject)) {
      throw new InvalidOptionError(`"${subject}" is not a NATS subject: give tokens separated by dots, like orders.>`);
    }
  }
  return {
    url,
    stream: natsName('stream', options.stream),
    subjects,
    consumer: natsName('consumer', options.consumer ?? DEFAULT_NATS_CONSUMER),
    passive: options.passive === true,
    maxDeliveries: wholeNumberOption('maxDeliveries', options.maxDeliveries ?? 5, 1),
    ackWaitMs: wholeNumberOption('ackWaitMs', options.ackWaitMs ?? 30_000, 1),
    nakDelayMs: wholeNumberOption('nakDelayMs', options.nakDelayMs ?? 0, 0),
    fetchWaitMs: wholeNumberOption('fetchWaitMs', options.fetchWaitMs ?? DEFAULT_FETCH_WAIT_MS, MIN_FETCH_WAIT_MS),
    connectAttempts: wholeNumberOption('connectAttempts', options.connectAttempts ?? 8, 1),
    connectBackoff: { initialMs: 250, factor: 2, maxMs: 5000, jitter: false },
    maxMessageBytes: wholeNumberOption('maxMessageBytes', options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 1),
    connectionName: options.connectionName,
    log: options.log ?? (() => {}),
  };
}

/** Stream and consumer names become subject tokens in the JetStream API: no dots, wildcards or spaces. */
function natsName(what: string, name: string): string {
  if (name === '' || /[.*>\s\\/]/.test(name)) {
    throw new InvalidOptionError(
      `"${name}" cannot be a JetStream ${what} name: use letters, digits, - and _ (no dots, *, >, slashes or spaces)`,
    );
  }
  return name;
}
