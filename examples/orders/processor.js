// An order-events processor: the module `missive run` loads in the main thread (matchers) and in every worker
// (handlers). Handlers are registered at top level, so every thread sees the same routes in the same order.
import { JsonMessage, Processor } from 'missive-node';

const processor = new Processor(JsonMessage, { name: 'orders-example' });

const isEvent = (type) => (message) => message.getJson().type === type;

// Per-thread state: each worker keeps its own running totals (a real processor would open a database pool here).
processor.beforeProcessing((processing) => {
  processing.state.revenueCents = 0;
});

processor.handleFor(isEvent('order.placed'), function orderPlaced(message, ctx) {
  const { order } = message.getJson();
  if (!Number.isInteger(order?.totalCents)) throw new TypeError(`order ${order?.id} has no integer totalCents`);
  ctx.processing.state.revenueCents += order.totalCents;
});

processor.handleFor(isEvent('order.cancelled'), function orderCancelled(message, ctx) {
  const { order } = message.getJson();
  ctx.processing.state.revenueCents -= order.totalCents ?? 0;
});

processor.handleFor(isEvent('customer.updated'), function customerUpdated() {
  // Nothing to do for this demo: being routed and acked is the point.
});

export default processor;
