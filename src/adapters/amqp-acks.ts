/** Sends one `basic.ack` or `basic.nack` frame; `multiple` settles every unsettled tag up to `tag` as well. */
export type SendSettle = (tag: number, multiple: boolean) => void;

/**
 * The delivery tags of one AMQP channel that are not settled yet, and the fewest frames that settle a set of them.
 *
 * A frame with `multiple` set settles every tag up to its own that the broker still holds, so it may only be sent
 * when every unsettled tag below it is being settled the same way in the same call. Tags of a consumer channel go
 * 1, 2, 3... in delivery order, so the lowest unsettled tag (`low`) only moves up: every tag below it has already
 * been settled, by an earlier frame or in this call. Tags settled in this call that lie below `low` therefore go
 * out as one `multiple` frame at the highest of them; the rest, which an older unsettled tag still precedes, go
 * one frame each. The pipeline settles batches mostly in delivery order, so most calls cost one frame.
 */
export class DeliveryTags {
  readonly #unsettled = new Set<number>();
  /** Every tag below it is settled. */
  #low = 1;
  /** The highest tag received. */
  #high = 0;
  #frames = 0;

  /** Tags received and not yet settled. */
  get size(): number {
    return this.#unsettled.size;
  }

  /** Frames sent so far, to see how well settles were grouped. */
  get frames(): number {
    return this.#frames;
  }

  /** Records a delivery. */
  add(tag: number): void {
    this.#unsettled.add(tag);
    if (tag > this.#high) this.#high = tag;
  }

  /** Whether `tag` was received and is not settled yet. */
  has(tag: number): boolean {
    return this.#unsettled.has(tag);
  }

  /**
   * Settles `tags` (in any order) with as few `send` calls as is safe. Tags not unsettled here (already settled, or
   * never received) are skipped, since settling a tag twice is a channel error; returns how many were skipped.
   */
  settle(tags: readonly number[], send: SendSettle): number {
    let skipped = 0;
    let fresh: number[] | undefined;
    for (const tag of tags) {
      if (this.#unsettled.delete(tag)) (fresh ??= []).push(tag);
      else skipped++;
    }
    if (!fresh) return skipped;
    while (this.#low <= this.#high && !this.#unsettled.has(this.#low)) this.#low++;
    let covered = 0;
    let highestCovered = 0;
    for (const tag of fresh) {
      if (tag < this.#low) {
        covered++;
        if (tag > highestCovered) highestCovered = tag;
      }
    }
    if (covered > 0) {
      send(highestCovered, covered > 1);
      this.#frames++;
    }
    if (covered < fresh.length) {
      for (const tag of fresh) {
        if (tag >= this.#low) {
          send(tag, false);
          this.#frames++;
        }
      }
    }
    return skipped;
  }

  /** Every unsettled tag, lowest first: what is still owed when the stream cannot take them. */
  unsettled(): number[] {
    return [...this.#unsettled].sort((a, b) => a - b);
  }
}
