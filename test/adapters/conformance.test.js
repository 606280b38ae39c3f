// The exported conformance suite (missive-node/testing) against every built-in adapter, through the public run():
// delivery, ack, nack, dead letters, backpressure and shutdown with messages in flight. What differs between
// transports comes from each harness's `features`.
import t from 'tap';
import { adapterConformance } from 'missive-node/testing';
import { harnesses } from './harnesses.js';

for (const harness of harnesses) {
  const features = Object.entries(harness.features)
    .filter(([, v]) => v)
    .map(([k]) => k)
    .join(', ');
  t.test(`${harness.name} (${features})`, await harness.need(), async (t) => {
    await adapterConformance(harness, { test: (name, fn) => t.test(name, fn) });
  });
}
