import t from 'tap';
import { Processor, JsonMessage, RawMessage, isProcessor } from 'missive-node';

t.test('handleFor returns the handler and keeps registration order', async (t) => {
  const p = new Processor(JsonMessage);
  const a = () => {};
  const b = function namedB() {};
  t.equal(
    p.handleFor(() => true, a),
    a,
  );
  p.handleFor(() => false, b);
  p.handleFor(
    () => false,
    () => {},
    { name: 'custom' },
  );
  t.same(
    p.routes.map((r) => r.name),
    ['a', 'namedB', 'custom'],
  );
  t.same(
    p.routes.map((r) => r.index),
    [0, 1, 2],
  );
});

t.test('anonymous handlers get a positional name', async (t) => {
  const p = new Processor();
  p.handleFor(() => true, (() => () => {})());
  t.equal(p.routes[0].name, 'handler#0');
});

t.test('the same matcher object twice is an error at registration', async (t) => {
  const p = new Processor();
  const matcher = () => true;
  p.handleFor(matcher, function first() {});
  const error = t.throws(() => p.handleFor(matcher, () => {}));
  t.equal(error.code, 'MISSIVE_ERR_DUPLICATE_MATCHER');
  t.match(error.message, /"first"/);
  t.equal(p.routes.length, 1, 'the second registration was not kept');
});

t.test('non-function matcher, handler or hook is refused with a clear error', async (t) => {
  const p = new Processor();
  t.throws(() => p.handleFor('type=a', () => {}), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  t.throws(() => p.handleFor(() => true, null), { code: 'MISSIVE_ERR_INVALID_OPTION' });
  t.throws(() => p.beforeHandling(42), { code: 'MISSIVE_ERR_INVALID_OPTION' });
});

t.test('defaults: RawMessage and the name missive; isProcessor recognises one', async (t) => {
  const p = new Processor();
  t.equal(p.MessageClass, RawMessage);
  t.equal(p.name, 'missive');
  t.equal(new Processor(JsonMessage, { name: 'orders' }).name, 'orders');
  t.ok(isProcessor(p));
  t.notOk(isProcessor({ routes: [] }));
});
