import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import type { Adapter } from '../adapters/adapter.js';
import { MemoryDlq } from '../dlq/memory.js';
import type { RawMessage } from '../message.js';
import { Processor } from '../processor.js';
import { run, type RunOptions, type Running } from '../run.js';
import type { RunStats } from '../streams/stats.js';

/**
 * What a transport can do: the table the suite reads to know which behaviour to expect. Declare what your
 * transport really does; a case that does not apply checks the weaker promise instead.
 */
export interface AdapterFeatures {
  /** A nack makes the transport deliver the message again (`Adapter.canRequeue`). Else it becomes a dead letter `nacked`. */
  readonly requeue: boolean;
  /** The transport keeps messages nobody has acked yet, across a closed adapter (a queue, a stream, a file). */
  readonly persistence: boolean;
  /** One consumer sees messages in the order they were published. */
  readonly ordering: boolean;
  /**
   * The input ends by itself (a file, standard input): the suite publishes first and waits for the run to end.
   * Else it opens the adapter first, publishes, and stops the run once everything is settled.
   */
  readonly endsWithInput: boolean;
}

/** One case's fresh view of the transport, from {@link AdapterConformanceOptions.setup}. */
export interface ConformanceHarness {
  /**
   * Puts these bodies on the transport, in this order, and resolves once the transport holds them all. For a
   * transport that ends with its input, called before the adapter opens; for the others, after, while the run
   * consumes: send them without a round trip each, or the run may finish them before the suite can stop it part-way.
   */
  publish(bodies: readonly string[]): Promise<void>;
  /** A new adapter on this case's transport (its own queue, stream or file); called once or more per case. */
  adapter(): Adapter;
  /**
   * How many messages the transport still holds that were never acked (unread plus delivered and unsettled), asked
   * once the run has ended and the adapter is closed. A transport that keeps nothing answers 0.
   */
  pending(): Promise<number>;
  /** The `source` every delivery's metadata names (`ctx.delivery.source`), stored with dead letters. */
  readonly source: string;
}

/** What {@link AdapterConformanceOptions.setup} may use: a place to undo what it set up. */
export interface ConformanceContext {
  /** The name of the case being set up. */
  readonly caseName: string;
  /** Runs `fn` once the case has ended, passed or failed, newest first: delete the queue, close the client. */
  teardown(fn: () => unknown): void;
}

/** The adapter under test: a name, its feature table, and how to set up a fresh transport for each case. */
export interface AdapterConformanceOptions {
  /** Shown in the name of every case. */
  readonly name: string;
  readonly features: AdapterFeatures;
  /** Sets up a fresh transport for one case (a new queue, stream or file), so cases cannot see each other. */
  setup(context: ConformanceContext): Promise<ConformanceHarness>;
}

/**
 * Declares one test, as your test framework does it: `test` from `node:test`, or `(name, fn) => t.test(name, fn)`
 * under tap. May return a promise that settles when the test has run: the suite awaits it before the next case.
 */
export type TestFunction = (name: string, fn: () => Promise<void>) => unknown;

/** How the suite declares its cases. */
export interface ConformanceRunner {
  /** Declares one case; see {@link TestFunction}. */
  readonly test: TestFunction;
  /** How long one wait for the transport may take, in ms, before the case fails. Default 15000. */
  readonly timeoutMs?: number;
}

/** Every case of the suite, by name, in the order they run. */
export const CONFORMANCE_CASES = [
  'delivers every message to its handler once, with transport metadata, and acks it',
  'an unprocessable message is stored as a dead letter, then acked',
  'a nack is redelivered, or stored as a dead letter "nacked"',
  'backpressure: never more unsettled messages than the in-flight cap',
  'shutdown with messages in flight: every message read is settled, the rest stay with the transport',
] as const;

/**
 * The adapter conformance suite: the same cases every built-in adapter passes, through the public {@link run}
 * (delivery and metadata, ack, dead letters, nack, backpressure, shutdown with messages in flight), for an adapter
 * of your own. It declares one test per case with the `test` function you give, so it runs under any framework;
 * failures are `node:assert` errors.
 *
 * ```js
 * import { test } from 'node:test';
 * import { adapterConformance } from 'missive-node/testing';
 * import { MyQueueAdapter } from '../src/my-queue-adapter.js';
 *
 * await adapterConformance(
 *   {
 *     name: 'my-queue',
 *     features: { requeue: true, persistence: true, ordering: false, endsWithInput: false },
 *     async setup({ teardown }) {
 *       const queue = await createQueue();
 *       teardown(() => queue.delete());
 *       return {
 *         publish: (bodies) => queue.send(bodies),
 *         adapter: () => new MyQueueAdapter({ queue: queue.name }),
 *         pending: () => queue.count(),
 *         source: `my-queue:${queue.name}`,
 *       };
 *     },
 *   },
 *   { test },
 * );
 * ```
 *
 * Resolves once every case has been declared and, where `test` returns a promise, has run.
 */
export async function adapterConformance(options: AdapterConformanceOptions, runner: ConformanceRunner): Promise<void> {
  const timeoutMs = runner.timeoutMs ?? 15_000;
  const { features } = options;
  const suite = new Suite(options, timeoutMs);
  const cases: Record<(typeof CONFORMANCE_CASES)[number], (h: ConformanceHarness) => Promise<void>> = {
    [CONFORMANCE_CASES[0]]: (h) => suite.deliversOnce(h),
    [CONFORMANCE_CASES[1]]: (h) => suite.deadLetters(h),
    [CONFORMANCE_CASES[2]]: (h) => suite.nack(h),
    [CONFORMANCE_CASES[3]]: (h) => suite.backpressure(h),
    [CONFORMANCE_CASES[4]]: (h) => suite.shutdown(h),
  };
  for (const name of CONFORMANCE_CASES) {
    const shown =
      name === CONFORMANCE_CASES[2]
        ? `a nack is ${features.requeue ? 'redelivered' : 'stored as a dead letter "nacked"'}`
        : name;
    const fn = async () => {
      const teardowns: (() => unknown)[] = [];
      try {
        const harness = await options.setup({ caseName: shown, teardown: (undo) => void teardowns.push(undo) });
        await cases[name](harness);
      } finally {
        for (const undo of teardowns.reverse()) await undo();
      }
    };
    await runner.test(`${options.name}: ${shown}`, fn);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The cases, with what they share: the feature table, and running a processor until its messages are settled. */
class Suite {
  readonly #features: AdapterFeatures;
  readonly #timeoutMs: number;

  constructor(options: AdapterConformanceOptions, timeoutMs: number) {
    this.#features = options.features;
    this.#timeoutMs = timeoutMs;
  }

  async deliversOnce(h: ConformanceHarness): Promise<void> {
    const seen: string[] = [];
    const sources = new Set<unknown>();
    const processor = new Processor();
    processor.handleFor(
      () => true,
      (m, ctx) => {
        seen.push(m.rawData.toString());
        sources.add(ctx.delivery.source);
      },
    );
    const bodies = Array.from({ length: 200 }, (_, i) => `m-${i}`);
    const { stats } = await this.#runUntilSettled(h, processor, bodies);
    equal(stats.received, 200, 'every message received');
    equal(stats.acked, 200, 'every message acked');
    deepStrictEqual([...seen].sort(), [...bodies].sort(), 'each exactly once');
    deepStrictEqual([...sources], [h.source], 'ctx.delivery names the source');
    if (this.#features.ordering) deepStrictEqual(seen, bodies, 'in order');
    equal(await h.pending(), 0, 'nothing left unacked at the transport');
  }

  async deadLetters(h: ConformanceHarness): Promise<void> {
    const processor = new Processor();
    processor.handleFor(
      (m) => m.rawData.toString().startsWith('ok'),
      () => {},
    );
    const { stats, dlq } = await this.#runUntilSettled(h, processor, ['ok-1', 'lost-2', 'ok-3']);
    equal(stats.acked, 2);
    equal(stats.deadLettered, 1);
    const [letter] = await dlq.list();
    ok(letter, 'one dead letter stored');
    equal(letter.body.toString(), 'lost-2');
    equal(letter.reason, 'no matching handler');
    equal(letter.source, h.source);
    equal(await h.pending(), 0, 'the dead letter was acked at the transport');
  }

  async nack(h: ConformanceHarness): Promise<void> {
    const requeue = this.#features.requeue;
    const nackedOnce = new Set<string>();
    const handled: string[] = [];
    const processor = new Processor();
    processor.handleFor(
      () => true,
      (m, ctx) => {
        const body = m.rawData.toString();
        if (body === 'again' && !nackedOnce.has(body)) {
          nackedOnce.add(body);
          ctx.nack();
          return;
        }
        handled.push(body);
      },
    );
    const { stats, dlq } = await this.#runUntilSettled(h, processor, ['one', 'again'], { expected: requeue ? 3 : 2 });
    if (requeue) {
      deepStrictEqual(handled.sort(), ['again', 'one'], 'handled on redelivery');
      equal(stats.nacked, 1);
      equal(await dlq.count(), 0);
    } else {
      deepStrictEqual(handled, ['one']);
      equal((await dlq.list())[0]?.reason, 'nacked');
    }
    equal(await h.pending(), 0, 'nothing left unacked at the transport');
  }

  async backpressure(h: ConformanceHarness): Promise<void> {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      async () => {
        await sleep(2);
      },
    );
    let max = 0;
    const bodies = Array.from({ length: 300 }, (_, i) => `b-${i}`);
    const running = await this.#start(h, bodies, processor, { batchSize: 5, maxInFlight: 10 });
    const watch = setInterval(() => (max = Math.max(max, running.stats.inFlight)), 1);
    try {
      if (!this.#features.endsWithInput) await h.publish(bodies);
      await this.#until(() => running.stats.acked === 300, '300 acked', this.#timeoutMs * 2);
      if (this.#features.endsWithInput) await running.done;
      else await running.stop();
    } finally {
      clearInterval(watch);
    }
    ok(max > 0 && max <= 10, `at most 10 in flight (saw ${max})`);
  }

  async shutdown(h: ConformanceHarness): Promise<void> {
    const processor = new Processor();
    processor.handleFor(
      () => true,
      async () => {
        await sleep(20);
      },
    );
    const bodies = Array.from({ length: 400 }, (_, i) => `s-${i}`);
    const running = await this.#start(h, bodies, processor, { batchSize: 10, maxInFlight: 40 });
    if (!this.#features.endsWithInput) await h.publish(bodies);
    await this.#until(() => running.stats.acked >= 40, 'some acked');
    const stats = await running.stop();
    ok(stats.received < 400, `stopped part-way (${stats.received} read)`);
    equal(stats.unsettled, 0, 'nothing left unsettled');
    equal(stats.acked + stats.nacked + stats.deadLettered, stats.received, 'each read message settled');
    if (this.#features.persistence && this.#features.requeue) {
      equal(await h.pending(), 400 - stats.acked, 'the transport keeps every message not acked');
    }
  }

  /** Runs bodies through a processor until `expected` messages are settled (or the input ends). */
  async #runUntilSettled(
    h: ConformanceHarness,
    processor: Processor<RawMessage>,
    bodies: readonly string[],
    { expected = bodies.length }: { expected?: number } = {},
  ): Promise<{ stats: RunStats; dlq: MemoryDlq }> {
    const dlq = new MemoryDlq();
    const running = await this.#start(h, bodies, processor, { batchSize: 20, dlq });
    if (this.#features.endsWithInput) return { stats: await running.done, dlq };
    await h.publish(bodies);
    const s = running.stats;
    await this.#until(() => s.acked + s.deadLettered + s.nacked >= expected && s.inFlight === 0, `${expected} settled`);
    return { stats: await running.stop(), dlq };
  }

  /** Starts a run on a fresh adapter; input that ends by itself is published first, as it must exist to be read. */
  async #start(
    h: ConformanceHarness,
    bodies: readonly string[],
    processor: Processor<RawMessage>,
    options: RunOptions,
  ): Promise<Running> {
    if (this.#features.endsWithInput) await h.publish(bodies);
    return run(processor, { dlq: new MemoryDlq(), threads: 0, lingerMs: 1, ...options, adapter: h.adapter() });
  }

  async #until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = this.#timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(20);
    }
  }
}
