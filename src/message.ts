import type { DeliveryMeta } from './delivery.js';
import { DecodeError } from './errors.js';

const UNDECODED = Symbol('undecoded');
/**
 * Drops a message's decoded value (internal). Once a message is routed to a worker, the main thread only keeps it
 * for bookkeeping; its decoded tree would otherwise live as long as the message is in flight and burden the GC.
 */
export let forgetDecoded: (message: Message<unknown>) => void;
/**
 * Gives a message its body as text (internal): a block of ASCII lines is decoded once, and each message gets a
 * slice of it, instead of one decode call per message.
 */
export let setBodyText: (message: Message<unknown>, text: string) => void;
/** The body as UTF-8 text: the slice the block gave it, else a decode of its bytes (internal). */
export let bodyText: (message: Message<unknown>) => string;
/**
 * A message whose body is `bytes[start..end)`, made a Buffer only if something reads `rawData` (internal). Most
 * handlers of a block's messages read the decoded body only, and a Buffer view costs ~80 ns a message, a sixth of
 * parsing a short JSON line. `text` is the body as a string, when the block has one: `JsonMessage` parses it
 * without the bytes. Undefined for a class other than this module's own: a subclass's constructor may read its
 * `rawData` argument, so it gets the exact bytes from `new`.
 */
export let messageOfSlice: <M extends Message<unknown>>(
  MessageClass: MessageClass<M>,
  bytes: Buffer,
  start: number,
  end: number,
  text: string | undefined,
  id: string,
  meta: DeliveryMeta,
) => M | undefined;

/**
 * The user's view of one delivery. Subclasses choose how the bytes are decoded by overriding `decode`; decoding
 * happens at most once per message, on first use, so a matcher and its handler share the work.
 */
export class Message<T = Buffer> {
  /** The transport's message id where it has one, otherwise one generated for this message. */
  readonly id: string;
  /** Transport metadata (headers, routing key, stream id...). Prefer `ctx.delivery` in handlers. */
  readonly meta: DeliveryMeta;
  #decoded: T | typeof UNDECODED = UNDECODED;
  #text: string | undefined = undefined;
  /** The body, once it is a Buffer; until then it is `#slice[#start..#end)` (see `messageOfSlice`). */
  #raw: Buffer | undefined;
  #slice: Buffer | undefined = undefined;
  #start = 0;
  #end = 0;
  /** Stands in for `decode` when the body came as text: `JSON.parse` for a `JsonMessage` of a block. */
  #decodeText: ((text: string) => T) | undefined = undefined;

  constructor(rawData: Buffer, id: string, meta: DeliveryMeta = EMPTY_META) {
    this.#raw = rawData;
    this.id = id;
    this.meta = meta;
  }

  /** The message body, exactly as the transport delivered it. */
  get rawData(): Buffer {
    return (this.#raw ??= this.#slice!.subarray(this.#start, this.#end));
  }

  /**
   * The decoded body, computed on first call and cached (a decoded `null` too).
   * @throws DecodeError when the bytes cannot be decoded; the message then becomes a dead letter.
   */
  getData(): T {
    if (this.#decoded === UNDECODED) {
      try {
        const text = this.#text;
        this.#decoded = text !== undefined && this.#decodeText ? this.#decodeText(text) : this.decode(this.rawData);
      } catch (error) {
        throw error instanceof DecodeError ? error : new DecodeError(this.constructor.name, error);
      }
    }
    return this.#decoded;
  }

  static {
    forgetDecoded = (message) => {
      message.#decoded = UNDECODED;
    };
    setBodyText = (message, text) => {
      message.#text = text;
    };
    bodyText = (message) => message.#text ?? message.rawData.toString('utf8');
    messageOfSlice = (MessageClass, bytes, start, end, text, id, meta) => {
      const json = MessageClass === (JsonMessage as unknown);
      if (!json && MessageClass !== (RawMessage as unknown) && MessageClass !== (Message as unknown)) return undefined;
      const message = new MessageClass(NO_BYTES, id, meta);
      message.#raw = undefined;
      message.#slice = bytes;
      message.#start = start;
      message.#end = end;
      message.#text = text;
      if (json) message.#decodeText = JSON.parse;
      return message;
    };
  }

  /** Turns the raw bytes into the value `getData` returns. Override it in a custom message class. */
  protected decode(rawData: Buffer): T {
    return rawData as unknown as T;
  }
}

/** Bytes in, bytes out: the default message class. */
export class RawMessage extends Message<Buffer> {}

/** A message whose body is UTF-8 JSON. */
export class JsonMessage<T = unknown> extends Message<T> {
  /** The parsed body, parsed once on first call (a JSON `null` stays cached as `null`). */
  getJson(): T {
    return this.getData();
  }

  protected override decode(rawData: Buffer): T {
    return JSON.parse(rawData === this.rawData ? bodyText(this) : rawData.toString('utf8')) as T;
  }
}

/** A message class the processor builds its messages with: `RawMessage`, `JsonMessage` or your own subclass. */
export type MessageClass<M extends Message<unknown> = Message<unknown>> = new (
  rawData: Buffer,
  id: string,
  meta?: DeliveryMeta,
) => M;

const EMPTY_META: DeliveryMeta = Object.freeze({});
const NO_BYTES = Buffer.alloc(0);
