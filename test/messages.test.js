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
