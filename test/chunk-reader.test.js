import t from 'tap';
import { Readable } from 'node:stream';
import { ChunkReader, ENDED } from '../dist/streams/chunk-reader.js';

const objects = () => new Readable({ objectMode: true, read() {} });

/** Reads every chunk as the pipeline does, counting how often it had to wait. */
async function drain(reader) {
  const chunks = [];
  let waits = 0;
  for (;;) {
    const chunk = reader.next();
    if (chunk === ENDED) return { chunks, waits };
    if (chunk === undefined) {
      waits++;
      await reader.ready();
      continue;
    }
    chunks.push(chunk);
  }
}

t.test('chunks already buffered are returned in the same turn; the reader waits only on an empty stream', async (t) => {
  const stream = objects();
  stream.push(['a']);
  stream.push(['b']);
  stream.push(['c']);
  const reader = new ChunkReader(stream);
  t.same([reader.next(), reader.next(), reader.next()], [['a'], ['b'], ['c']], 'three chunks without a wait');
  t.equal(reader.next(), undefined, 'nothing buffered: wait');
  setTimeout(() => {
    stream.push(['d']);
    stream.push(null);
  }, 5);
  const { chunks, waits } = await drain(reader);
  t.same(chunks, [['d']]);
  t.ok(waits >= 1 && waits <= 3, `waited for the late chunk and the end (${waits} waits)`);
  reader.close();
});

t.test("the stream's error is thrown by next(), once the chunks before it were read", async (t) => {
  const stream = objects();
  const reader = new ChunkReader(stream);
  stream.push(['a']);
  setTimeout(() => stream.destroy(new Error('broker gone')), 5);
  await t.rejects(drain(reader), /broker gone/);
  reader.close();
});

t.test('a stream destroyed without ending is a premature close, as with for await', async (t) => {
  const stream = objects();
  const reader = new ChunkReader(stream);
  setTimeout(() => stream.destroy(), 5);
  await t.rejects(drain(reader), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  reader.close();
});

t.test('close() destroys a stream still open, so an adapter watching its close stops consuming', async (t) => {
  const stream = objects();
  let closed = false;
  stream.once('close', () => (closed = true));
  const reader = new ChunkReader(stream);
  stream.push(['a']);
  t.same(reader.next(), ['a']);
  reader.close();
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(stream.destroyed, 'destroyed');
  t.ok(closed, 'its close was emitted');
});

t.test('a reader made after the stream ended sees the end at once', async (t) => {
  const stream = objects();
  stream.push(['only']);
  stream.push(null);
  const reader = new ChunkReader(stream);
  const { chunks } = await drain(reader);
  t.same(chunks, [['only']]);
  reader.close();
});
