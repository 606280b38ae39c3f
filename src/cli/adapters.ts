import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { amqpSpec } from '../adapters/amqp-spec.js';
import { httpSpec } from '../adapters/http.js';
import { natsSpec } from '../adapters/nats-spec.js';
import { fileSpec, stdinSpec } from '../adapters/lines-spec.js';
import { redisPubSubSpec } from '../adapters/redis-pubsub-spec.js';
import { redisStreamsSpec } from '../adapters/redis-streams-spec.js';
import type { AdapterSpec } from '../adapters/spec.js';
import { UsageError, describe } from '../errors.js';
import { environmentName } from './flags.js';

/** Every adapter the CLI can run, by `--adapter` name. */
export const ADAPTERS: readonly AdapterSpec[] = [
  stdinSpec,
  fileSpec,
  redisPubSubSpec,
  redisStreamsSpec,
  amqpSpec,
  httpSpec,
  natsSpec,
];

export function adapterNamed(name: string): AdapterSpec | undefined {
  return ADAPTERS.find((spec) => spec.name === name);
}

/** Whether `--adapter` names a module of the user's (a path) rather than a built-in adapter. */
export function isAdapterModule(name: string): boolean {
  return /^(\.{0,2}\/|[a-z]:\\)/i.test(name) || /\.(m?js|cjs)$/.test(name);
}

/**
 * Loads `--adapter ./my-adapter.js`: a module whose default export is an {@link AdapterSpec}. Every problem is a
 * usage error that says what the module must export, found before a message is read.
 */
export async function loadAdapterSpec(path: string, reserved: ReadonlySet<string>): Promise<AdapterSpec> {
  const file = resolve(path);
  const what = 'a module whose default export is an adapter spec: { name, summary, flags, create(values, common) }';
  if (!existsSync(file))
    throw new UsageError(`cannot find the adapter module ${path}; --adapter takes a built-in name or ${what}`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(`the adapter module ${path} failed to load: ${describe(error)}`);
  }
  const spec = module.default as Partial<AdapterSpec> | undefined;
  const missing = [
    typeof spec?.name === 'string' && spec.name !== '' ? undefined : 'name (a string)',
    typeof spec?.summary === 'string' ? undefined : 'summary (a string)',
    typeof spec?.flags === 'object' && spec.flags !== null ? undefined : 'flags (an object, {} for none)',
    typeof spec?.create === 'function' ? undefined : 'create (a function)',
  ].filter((field) => field !== undefined);
  if (!spec || missing.length > 0) {
    throw new UsageError(`${path} must be ${what}; its default export lacks ${missing.join(', ')}`);
  }
  for (const [flag, flagSpec] of Object.entries(spec.flags!)) {
    if (reserved.has(flag))
      throw new UsageError(
        `the adapter ${spec.name} (${path}) declares --${flag}, a flag of missive run itself; rename it`,
      );
    if (flagSpec?.type !== 'string' && flagSpec?.type !== 'boolean') {
      throw new UsageError(`the adapter ${spec.name} (${path}) declares --${flag} without type 'string' or 'boolean'`);
    }
  }
  return spec as AdapterSpec;
}

/** The value of `--adapter` in argv (or its environment variable), read before the flags can be parsed. */
export function adapterArgument(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '--adapter') return argv[i + 1];
    if (arg.startsWith('--adapter=')) return arg.slice('--adapter='.length);
  }
  return env[environmentName('adapter')];
}
