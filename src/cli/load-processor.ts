import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError, describe } from '../errors.js';
import type { Message } from '../message.js';
import { isProcessor, type Processor } from '../processor.js';

/** A processor module, loaded in this thread. */
export interface LoadedProcessor {
  readonly processor: Processor<Message<unknown>>;
  /** The URL workers import. */
  readonly url: string;
}

/**
 * Imports a processor module given on the command line and checks it is usable: any problem is a usage error,
 * reported before a single message is read.
 */
export async function loadProcessor(path: string): Promise<LoadedProcessor> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new UsageError(`cannot find the processor module ${path}; give the path of a .js file whose default export is a Processor`);
  }
  const url = pathToFileURL(file).href;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(`the processor module ${path} failed to load: ${describe(error)}`);
  }
  if (!isProcessor(module.default)) {
    throw new UsageError(
      `${path} has no Processor as its default export; end the module with "export default processor" ` +
        '(where processor = new Processor(...))',
    );
  }
  if (module.default.routes.length === 0) {
    throw new UsageError(`the processor in ${path} has no handlers: register at least one with processor.handleFor(matcher, handler)`);
  }
  return { processor: module.default, url };
}
