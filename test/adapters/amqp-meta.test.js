// The metadata of AMQP deliveries (ctx.delivery): consecutive deliveries with equal metadata share one frozen
// object, any difference gives a new one, and empty headers are one shared frozen object. The values themselves are
// checked against a real broker in amqp.test.js.
import t from 'tap';
import { AmqpMetas } from '../../dist/adapters/amqp-meta.js';

/** A consumed message as amqplib hands it over: its own (empty) headers object unless told otherwise. */
function consumed({
  routingKey = 'orders',
  redelivered = false,
  headers = {},
  correlationId,
  replyTo,
  contentType,
} = {}) {
  return {
    fields: { consumerTag: 'ctag', deliveryTag: 1, redelivered, exchange: '', routingKey },
    properties: { headers, correlationId, replyTo, contentType, messageId: 'm' },
    content: Buffer.from('x'),
  };
}

t.test('equal metadata is one frozen object, with the values of the delivery', async (t) => {
  const metas = new AmqpMetas();
  const first = metas.of('amqp:orders', 'orders', consumed());
  const second = metas.of('amqp:orders', 'orders', consumed());
  t.equal(second, first, 'shared');
  t.ok(Object.isFrozen(first), 'frozen');
  t.ok(Object.isFrozen(first.headers), 'empty headers are frozen too');
  t.same(first, {
    source: 'amqp:orders',
    queue: 'orders',
    exchange: '',
    routingKey: 'orders',
    redelivered: false,
    deliveryCount: 1,
    headers: {},
    contentType: undefined,
    correlationId: undefined,
    replyTo: undefined,
  });
});

t.test('any difference gives a new object, and the next equal one is shared again', async (t) => {
  const metas = new AmqpMetas();
  const base = metas.of('amqp:q', 'q', consumed());
  const changes = [
    ['routingKey', { routingKey: 'other' }],
    ['redelivered', { redelivered: true }],
    ['correlationId', { correlationId: 'c-1' }],
    ['replyTo', { replyTo: 'answers' }],
    ['contentType', { contentType: 'application/json' }],
    ['headers', { headers: { tenant: 'a' } }],
  ];
  let previous = base;
  for (const [what, change] of changes) {
    const meta = metas.of('amqp:q', 'q', consumed(change));
    t.not(meta, previous, `${what} differs: a new object`);
    previous = meta;
  }
  t.not(
    metas.of('amqp:other', 'other', consumed({ headers: { tenant: 'a' } })),
    previous,
    'another queue: a new object',
  );
  const again = metas.of('amqp:q', 'q', consumed());
  t.not(again, base, 'not the one of three deliveries ago');
  t.equal(metas.of('amqp:q', 'q', consumed()), again, 'but shared with the next equal one');
});

t.test('headers with values are kept as given, and give the delivery count when the broker counts', async (t) => {
  const metas = new AmqpMetas();
  const headers = { 'x-delivery-count': 2, tenant: 'a' };
  const meta = metas.of('amqp:q', 'q', consumed({ redelivered: true, headers }));
  t.equal(meta.headers, headers);
  t.equal(meta.deliveryCount, 3, 'two earlier deliveries, this one the third');
  t.equal(
    metas.of('amqp:q', 'q', consumed({ redelivered: true })).deliveryCount,
    2,
    'a classic queue says redelivered: at least 2',
  );
});

t.test(
  'a message published again after a nack: its count, exchange and routing key come from its headers',
  async (t) => {
    const metas = new AmqpMetas();
    const headers = { 'x-missive-deliveries': 3, 'x-missive-exchange': 'orders-x', 'x-missive-routing-key': 'eu.new' };
    const meta = metas.of('amqp:q', 'q', consumed({ routingKey: 'q', headers }));
    t.match(meta, { deliveryCount: 4, exchange: 'orders-x', routingKey: 'eu.new' });
    const requeued = metas.of(
      'amqp:q',
      'q',
      consumed({ redelivered: true, headers: { ...headers, 'x-delivery-count': 1 } }),
    );
    t.equal(requeued.deliveryCount, 5, 'three nacks, one requeue counted by a quorum queue, this delivery');
  },
);
