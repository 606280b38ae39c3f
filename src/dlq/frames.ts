/**
 * Cuts a byte stream into newline-ended frames (the socket protocol of wire.ts), holding at most `maxBytes` of a
 * frame not yet ended. Each byte is looked at once, so a peer that streams without a newline costs time in
 * proportion to what it sends, and memory up to the bound.
 */
export class FrameReader {
  readonly maxBytes: number;
  #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The frames `chunk` ends, in order; `overflow` when a frame outgrew `maxBytes` (what follows it is dropped). */
  push(chunk: Buffer): { frames: string[]; overflow: boolean } {
    const frames: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
      const tail = chunk.subarray(start, end);
      if (this.#heldBytes + tail.length > this.maxBytes) return this.#overflow(frames);
      frames.push((this.#held.length > 0 ? Buffer.concat([...this.#held, tail]) : tail).toString('utf8'));
      this.#held = [];
      this.#heldBytes = 0;
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (this.#heldBytes + rest.length > this.maxBytes) return this.#overflow(frames);
    if (rest.length > 0) {
      this.#held.push(rest);
      this.#heldBytes += rest.length;
    }
    return { frames, overflow: false };
  }

  #overflow(frames: string[]): { frames: string[]; overflow: boolean } {
    this.#held = [];
    this.#heldBytes = 0;
    return { frames, overflow: true };
  }
}
