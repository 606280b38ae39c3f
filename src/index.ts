/**
 * missive-node: message handlers on every core, on any transport, with dead letters you can query with SQL.
 * This module is the public API; everything not exported here is internal.
 */
export { Processor, isProcessor } from './processor.js';
export type { Matcher, Handler, HandlerOptions, Route, ProcessorOptions } from './processor.js';
export { Message, RawMessage, JsonMessage } from './message.js';
export type { MessageClass } from './message.js';
export type { HandlerContext, ProcessingContext } from './context.js';
export type { ProcessingHook, HandlingHook } from './hooks.js';
export { run, DEFAULT_DLQ_PATH } from './run.js';
export type { RunOptions, Running, RunEvents, LoggerLike } from './run.js';
export type { RegistryLike } from './metrics.js';
export type { RunStats } from './streams/stats.js';
export { TestClient } from './test-client.js';
export type { TestClientOptions, SendOptions, SendResult, TestDeadLetter, Sendable } from './test-client.js';
export type { Delivery, DeliveryMeta } from './delivery.js';
export type { Adapter, AdapterOpenOptions, AckKind } from './adapters/adapter.js';
export { Reasons } from './outcome.js';
export type { Backoff, BackoffOptions } from './retry.js';
export type { Outcome } from './outcome.js';
export { MemoryDlq } from './dlq/memory.js';
export type { Dlq, DeadLetter, DeadLetterInput, DlqFilter, DlqListOptions, Fingerprint } from './dlq/dlq.js';
export * from './errors.js';
