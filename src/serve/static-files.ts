import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A file the page loads: where it is in the package, and its type. */
interface StaticFile {
  readonly path: string;
  readonly type: string;
}

const require = createRequire(import.meta.url);
const page = (name: string) => fileURLToPath(new URL(`./page/${name}`, import.meta.url));

/**
 * Everything the page loads, from the installed package (the build copies src/serve/page to dist/serve/page;
 * uPlot comes from its own package): nothing from a CDN, so the page works on a machine that is offline.
 */
const FILES: Readonly<Record<string, StaticFile>> = {
  '/': { path: page('index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: page('app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: page('style.css'), type: 'text/css; charset=utf-8' },
  '/uplot.js': { path: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/uplot.css': { path: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

/** The static file at this URL path, or undefined. */
export async function staticFile(path: string): Promise<{ body: Buffer; type: string } | undefined> {
  const file = Object.hasOwn(FILES, path) ? FILES[path] : undefined;
  if (!file) return undefined;
  let body = cache.get(path);
  if (!body) {
    body = await readFile(file.path);
    cache.set(path, body);
  }
  return { body, type: file.type };
}
