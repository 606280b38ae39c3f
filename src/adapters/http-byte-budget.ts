/**
 * A cap on the bytes of request bodies held at once, arriving or waiting for their outcome, so that senders that
 * never finish (or never stop) cannot make the process grow: a reservation either fits whole or is refused.
 */
export class ByteBudget {
  /** The most bytes reserved at once. */
  readonly limit: number;
  #used = 0;
  #peak = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** The most bytes that were ever reserved at once; never above `limit`. */
  get peak(): number {
    return this.#peak;
  }

  /** Reserves `bytes` when they fit under the limit; false (and nothing reserved) when they do not. */
  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    if (this.#used > this.#peak) this.#peak = this.#used;
    return true;
  }

  /** Gives back bytes reserved earlier. */
  release(bytes: number): void {
    this.#used -= bytes;
  }
}
