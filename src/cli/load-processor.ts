import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError, describe } from '../errors.js';
import { isProcessor, type LoadedProcessor } from '../processor.js';

/**
 * Imports a processor module given on the command line and checks it is usable: any problem is a usage error,
 * reported before a single message is read.
 */
export async function loadProcessor(path: string): Promise<LoadedProcessor> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new UsageError(
      `cannot find the processor module ${path}; give the path of a .js file whose default export is a Processor`,
    );
  }
  if (/\.(c|m)?ts$/.test(file)) {
    throw new UsageError(
      `${path} is TypeScript, which Node ${process.versions.node.split('.')[0]} does not run by itself: compile it ` +
        '(tsc) and give the .js file, or run missive with a TypeScript loader (node --import tsx node_modules/.bin/missive ...)',
    );
  }
  const url = pathToFileURL(file).href;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(`the processor module ${path} failed to load: ${describe(error)}`);
  }
  if (!isProcessor(module.default)) throw new UsageError(notAProcessor(path, module.default));
  if (module.default.routes.length === 0) {
    throw new UsageError(
      `the processor in ${path} has no handlers: register at least one with processor.handleFor(matcher, handler)`,
    );
  }
  return { processor: module.default, url };
}

/** What the default export is instead of a Processor, and how to make it one. */
function notAProcessor(path: string, value: unknown): string {
  const fix = 'end the module with "export default processor" (where processor = new Processor(...))';
  if (value === undefined) return `${path} has no default export; ${fix}`;
  if (typeof value === 'function') {
    return (
      `${path} exports a function by default, not a Processor: if it builds the processor, export what it builds ` +
      `("export default build()"); else ${fix}`
    );
  }
  if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
    return `${path} exports a Promise by default, not a Processor: await it in the module ("export default await build()")`;
  }
  return `${path} has no Processor as its default export (it exports ${value === null ? 'null' : typeof value}); ${fix}`;
}
