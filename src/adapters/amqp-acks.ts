/** Sends one `basic.ack` or `basic.nack` frame; `multiple` settles every unsettled tag up to `tag` as well. */
export type SendSettle = (tag: number, multiple: boolean) => void;

/**
 * The widest span of tags kept as flags. A tag held far longer than the rest (a slow handler, a retry waiting out
 * its backoff) would otherwise stretch the flags without bound; past this span it moves to a set of its own.
 */
const MAX_SPAN = 1 << 16;
const INITIAL_SPAN = 1 << 11;

/**
 * The delivery tags of one AMQP channel that are not settled yet, and the fewest frames that settle a set of them.
 *
 * A frame with `multiple` set settles every tag up to its own that the broker still holds, so it may only be sent
 * when every unsettled tag below it is being settled the same way in the same call. Tags of a consumer channel go
 * 1, 2, 3... in delivery order, so the lowest unsettled tag only moves up: every tag below it has already been
 * settled, by an earlier frame or in this call. Tags settled in this call that lie below it therefore go out as one
 * `multiple` frame at the highest of them; the rest, which an older unsettled tag still precedes, go one frame
 * each. The pipeline settles batches mostly in delivery order, so most calls cost one frame.
 *
 * Tags are flags in a ring indexed by tag, from the lowest unsettled one up: a message costs two array writes
 * instead of hashed set operations. A tag left behind by more than `MAX_SPAN` joins `#stragglers`, so memory stays
 * bounded by the prefetch window whatever the settle order.
 */
export class DeliveryTags {
  /** 1 for an unsettled tag in `#low..#high`, at `tag & #mask`; 0 everywhere else. */
  #flags = new Uint8Array(INITIAL_SPAN);
  #mask = INITIAL_SPAN - 1;
  /** Unsettled tags below `#low`. */
  readonly #stragglers = new Set<number>();
  /** Every tag below it is settled or a straggler; it is unsettled itself unless the window is empty. */
  #low = 1;
  /** The highest tag received. */
  #high = 0;
  #size = 0;
  #frames = 0;

  /** Tags received and not yet settled. */
  get size(): number {
    return this.#size;
  }

  /** Frames sent so far, to see how well settles were grouped. */
  get frames(): number {
    return this.#frames;
  }

  /** Records a delivery. */
  add(tag: number): void {
    if (tag < this.#low) {
      // Not seen on a consumer channel, whose tags only grow; kept correct all the same.
      if (!this.#stragglers.has(tag)) this.#size++;
      this.#stragglers.add(tag);
      return;
    }
    if (tag > this.#high) {
      if (this.#low > this.#high) this.#low = tag;
      else if (tag - this.#low > this.#mask) this.#widen(tag);
      this.#high = tag;
    }
    const index = tag & this.#mask;
    if (this.#flags[index] === 0) {
      this.#flags[index] = 1;
      this.#size++;
    }
  }

  /**
   * Settles `tags` (in any order) with as few `send` calls as is safe. Tags not unsettled here (already settled, or
   * never received) are skipped, since settling a tag twice is a channel error; returns how many were skipped.
   */
  settle(tags: readonly number[], send: SendSettle): number {
    let skipped = 0;
    // The tags settled here: `tags` itself unless some are skipped.
    let fresh: number[] | undefined;
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i]!;
      if (this.#take(tag)) fresh?.push(tag);
      else {
        fresh ??= tags.slice(0, i);
        skipped++;
      }
    }
    const settled = fresh ?? tags;
    if (settled.length === 0) return skipped;
    const flags = this.#flags;
    const mask = this.#mask;
    while (this.#low <= this.#high && flags[this.#low & mask] === 0) this.#low++;
    let lowest = this.#low;
    if (this.#stragglers.size > 0) for (const tag of this.#stragglers) if (tag < lowest) lowest = tag;
    let covered = 0;
    let highestCovered = 0;
    for (const tag of settled) {
      if (tag < lowest) {
        covered++;
        if (tag > highestCovered) highestCovered = tag;
      }
    }
    if (covered > 0) {
      send(highestCovered, covered > 1);
      this.#frames++;
    }
    if (covered < settled.length) {
      for (const tag of settled) {
        if (tag >= lowest) {
          send(tag, false);
          this.#frames++;
        }
      }
    }
    return skipped;
  }

  /** Clears one unsettled tag; false when it is not unsettled. */
  #take(tag: number): boolean {
    if (tag >= this.#low && tag <= this.#high) {
      const index = tag & this.#mask;
      if (this.#flags[index] === 0) return false;
      this.#flags[index] = 0;
    } else if (!this.#stragglers.delete(tag)) {
      return false;
    }
    this.#size--;
    return true;
  }

  /** Makes room for `#low..tag`: doubles the ring up to `MAX_SPAN`, then moves the oldest tags to the stragglers. */
  #widen(tag: number): void {
    let length = this.#flags.length;
    while (length < MAX_SPAN && tag - this.#low >= length) length *= 2;
    if (length > this.#flags.length) {
      const flags = new Uint8Array(length);
      for (let t = this.#low; t <= this.#high; t++) flags[t & (length - 1)] = this.#flags[t & this.#mask]!;
      this.#flags = flags;
      this.#mask = length - 1;
    }
    while (tag - this.#low > this.#mask) {
      const index = this.#low & this.#mask;
      if (this.#flags[index] === 1) {
        this.#flags[index] = 0;
        this.#stragglers.add(this.#low);
      }
      this.#low++;
    }
    while (this.#low <= this.#high && this.#flags[this.#low & this.#mask] === 0) this.#low++;
  }
}
