/**
 * `missive-node/testing`: the adapter conformance suite, for the author of a transport. Call
 * {@link adapterConformance} from a `node:test` (or tap, or any framework's) test file with your adapter's feature
 * table and a setup function; every built-in adapter passes the same cases. Loads no broker client.
 */
export {
  adapterConformance,
  CONFORMANCE_CASES,
  type AdapterConformanceOptions,
  type AdapterFeatures,
  type ConformanceContext,
  type ConformanceHarness,
  type ConformanceRunner,
  type TestFunction,
} from './conformance.js';
