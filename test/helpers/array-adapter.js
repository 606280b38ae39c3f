// An adapter over an array of bodies, for tests about the pipeline's own logic (no transport involved).
import { Readable } from 'node:stream';

export class ArrayAdapter {
  name = 'array';
  client = undefined;
  acked = [];
  deadLettered = [];
  nacked = [];

  constructor(bodies, { canRequeue = false, chunk = 50 } = {}) {
    this.canRequeue = canRequeue;
    this.bodies = bodies;
    this.chunk = chunk;
  }

  async open() {
    const deliveries = this.bodies.map((body, i) => ({
      body: Buffer.from(body),
      id: `m${i}`,
      meta: { source: 'array' },
    }));
    const chunks = [];
    for (let i = 0; i < deliveries.length; i += this.chunk) chunks.push(deliveries.slice(i, i + this.chunk));
    this.stream = Readable.from(chunks, { objectMode: true });
    return this.stream;
  }

  ack(deliveries, kind) {
    for (const d of deliveries) (kind === 'handled' ? this.acked : this.deadLettered).push(d.id);
  }

  nack(deliveries) {
    for (const d of deliveries) this.nacked.push(d.id);
  }

  async stop() {
    this.stream?.push(null);
  }

  async close() {}
}
