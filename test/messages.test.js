import t from 'tap';
import { JsonMessage, Message, RawMessage, MissiveError } from 'missive-node';

t.test('RawMessage keeps the bytes and the id', async (t) => {
  const m = new RawMessage(Buffer.from('hi'), 'id-1');
  t.equal(m.id, 'id-1');
  t.same(m.getData(), Buffer.from('hi'));
  t.equal(m.rawData.toString(), 'hi');
});

t.test('JsonMessage decodes once, lazily, and caches a JSON null too', async (t) => {
  let parses = 0;
  class Counting extends JsonMessage {
    decode(raw) {
      parses++;
      return super.decode(raw);
    }
  }
  const m = new Counting(Buffer.from('{"a":1}'), 'x');
  t.equal(parses, 0, 'nothing parsed before first use');
  t.same(m.getJson(), { a: 1 });
  t.equal(m.getJson(), m.getJson(), 'same object every time');
  t.equal(parses, 1);

  const n = new Counting(Buffer.from('null'), 'y');
  t.equal(n.getJson(), null);
  t.equal(n.getJson(), null);
  t.equal(parses, 2, 'null decoded once');
});

t.test('bad JSON throws a DecodeError with a stable code', async (t) => {
  const m = new JsonMessage(Buffer.from('{oops'), 'x');
  const error = t.throws(() => m.getJson());
  t.ok(error instanceof MissiveError);
  t.equal(error.code, 'MISSIVE_ERR_DECODE');
  t.match(error.message, /JsonMessage could not decode/);
});

t.test('a custom message class overrides decoding', async (t) => {
  class CsvMessage extends Message {
    decode(raw) {
      return raw.toString().split(',');
    }
  }
  const m = new CsvMessage(Buffer.from('a,b,c'), 'x');
  t.same(m.getData(), ['a', 'b', 'c']);
});

t.test(
  "a block's message of a built-in class gets its body as a Buffer only when asked, and parses the block's text",
  async (t) => {
    const { messageOfSlice } = await import('../dist/message.js');
    const bytes = Buffer.from('xx{"a":1}yy');
    // Every Buffer view of the bytes is counted: a message must make none until rawData is read.
    let views = 0;
    bytes.subarray = (...range) => (views++, Buffer.prototype.subarray.apply(bytes, range));
    const m = messageOfSlice(JsonMessage, bytes, 2, 9, '{"a":2}', 'b:1', { line: 1 });
    t.ok(m instanceof JsonMessage);
    t.same(m.getJson(), { a: 2 }, "parsed from the block's text, not from the bytes");
    t.equal(views, 0, 'no Buffer made to match or parse it');
    t.equal(m.rawData.toString(), '{"a":1}', 'rawData is exactly the slice of the bytes');
    t.equal(m.rawData, m.rawData, 'made once');
    t.equal(views, 1, 'one view, when rawData was first read');
    t.same([m.id, m.meta], ['b:1', { line: 1 }]);

    const raw = messageOfSlice(RawMessage, bytes, 0, 2, undefined, 'b:2', {});
    t.same(raw.getData(), Buffer.from('xx'), 'a RawMessage decodes to its bytes');

    const bad = messageOfSlice(JsonMessage, Buffer.from('{oops'), 0, 5, '{oops', 'b:3', {});
    const error = t.throws(() => bad.getJson());
    t.equal(error.code, 'MISSIVE_ERR_DECODE', 'a bad body is a DecodeError, as for any JsonMessage');

    class Strict extends JsonMessage {
      constructor(rawData, id, meta) {
        super(rawData, id, meta);
        if (rawData.length === 0) throw new Error('empty');
      }
    }
    t.equal(
      messageOfSlice(Strict, bytes, 2, 9, '{"a":1}', 'b:4', {}),
      undefined,
      'a subclass is left to its own constructor',
    );
  },
);
