// Imports in src/ run one way, down the flow (DESIGN.md section 6): a file imports its own layer or a lower one,
// never a higher one. Read from the sources, not dist/, so a type-only import counts as well: a type pulled from a
// higher layer ties the lower one to it just the same (and is as easy to move down as the code it describes).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * The layers, lowest first, each a list of path prefixes under src/ (a folder ends in `/`). Files at the src root
 * not named elsewhere are the core: what a handler is (processor, routes, messages, hooks, outcomes) and the
 * policies everything uses (errors, log, options, retry, the line fast path).
 */
const LAYERS = [
  // The two contracts the pipeline is written against (what an adapter is, what a dead-letter store is) are the
  // core's, though they still live beside their implementations (issue 24's layout moves them to the core).
  { name: 'core', paths: ['adapters/adapter.ts', 'dlq/dlq.ts'] },
  { name: 'workers', paths: ['workers/'] },
  { name: 'streams', paths: ['streams/'] },
  // The dead-letter store sits under the adapters: an adapter may read letters (the replay source), a store never
  // needs a transport.
  { name: 'dlq', paths: ['dlq/'] },
  { name: 'adapters', paths: ['adapters/'] },
  // A run puts a pipeline, an adapter and a store together; metrics read all three.
  { name: 'run', paths: ['run.ts', 'metrics.ts'] },
  { name: 'serve', paths: ['serve/'] },
  { name: 'cli', paths: ['cli/'] },
  // What users import: the package's entry and the test kit, on top of everything.
  { name: 'surface', paths: ['index.ts', 'testing/', 'test-client.ts'] },
];

/**
 * Upward imports there today, each with why it is not fixed yet. The list may only shrink: an entry that no longer
 * matches an import fails the test, so that whoever removes an upward import removes its entry too.
 * Keys are `importer -> imported`, paths under src/.
 */
const ALLOWED = new Map([
  // Replaying is a run whose source is the store: it belongs at the run's level (or the CLI's), not in the store's
  // folder. Moving it changes what `missive-node/dlq` exports (`replay`), which is the public API: left to the
  // layout change, which can keep the export as a re-export from above.
  ['dlq/replay.ts -> adapters/dlq-source.ts', 'replay is a run over the store: moves up with the layout change'],
  ['dlq/replay.ts -> run.ts', 'replay is a run over the store: moves up with the layout change'],
  // The page masks letters as the CLI does; the masking rule moves into dlq/masking.ts with issue 24 item 4 (one
  // masking list for the CLI, the page, the SQL sandbox and run events), which is under way in parallel.
  ['serve/letter-view.ts -> cli/dlq-format.ts', 'isMasked moves to the one masking list (issue 24 item 4)'],
  // How an outcome becomes a letter and who the run is (its fingerprint) are the pipeline's, written in dlq/: each
  // is a small pure file that moves down with the layout change (their importers in cli/, run.ts and dlq/ are being
  // edited in parallel now).
  ['streams/outcomes.ts -> dlq/letter-for.ts', 'letterFor moves down with the layout change'],
  ['streams/pipeline.ts -> dlq/fingerprint.ts', 'fingerprintOf moves down with the layout change'],
]);

function layerOf(file) {
  let found = 0;
  let length = -1;
  LAYERS.forEach((layer, rank) => {
    for (const path of layer.paths) {
      if ((file === path || (path.endsWith('/') && file.startsWith(path))) && path.length > length) {
        found = rank;
        length = path.length;
      }
    }
  });
  return found;
}

function sourcesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

// Static imports and re-exports (`import ... from`, `export ... from`, `import '...'`), each from the start of a
// line so that JSDoc examples do not count; dynamic `import('...')`, typed `typeof import('...')` included.
const STATIC = /^[ \t]*(import|export)\s+(type\s+)?([^;'"()=]*?)\s*(?:from\s+)?'(\.{1,2}\/[^']+)'/gm;
const DYNAMIC = /(typeof\s+)?\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

/** Every relative import of `file`: its line, the imported file (under src/, `.ts`) and whether it is type-only. */
export function importsOf(file, source) {
  const lineAt = (index) => source.slice(0, index).split('\n').length;
  const target = (specifier) =>
    relative(SRC, resolve(dirname(file), specifier))
      .split('\\')
      .join('/')
      .replace(/\.js$/, '.ts');
  const found = [];
  for (const match of source.matchAll(STATIC)) {
    const [, , typeKeyword, clause, specifier] = match;
    // `import { type A, type B }` is type-only too: every name in the braces is marked.
    const names = /^\{([^}]*)\}$/
      .exec(clause.trim())?.[1]
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const typeOnly =
      typeKeyword !== undefined ||
      (names !== undefined && names.length > 0 && names.every((name) => name.startsWith('type ')));
    found.push({ line: lineAt(match.index), imported: target(specifier), typeOnly });
  }
  for (const match of source.matchAll(DYNAMIC)) {
    found.push({ line: lineAt(match.index), imported: target(match[2]), typeOnly: match[1] !== undefined });
  }
  return found;
}

const files = sourcesUnder(SRC).map((path) => relative(SRC, path).split('\\').join('/'));

t.test('the layers name folders and files that exist', async (t) => {
  for (const { name, paths } of LAYERS) {
    for (const path of paths) {
      t.ok(
        files.some((file) => file === path || file.startsWith(path)),
        `${name}: src/${path} exists`,
      );
    }
  }
});

t.test('no file in src/ imports a higher layer', async (t) => {
  const upward = [];
  const matched = new Set();
  let count = 0;
  for (const file of files) {
    const rank = layerOf(file);
    for (const { line, imported, typeOnly } of importsOf(join(SRC, file), readFileSync(join(SRC, file), 'utf8'))) {
      count++;
      const to = layerOf(imported);
      if (to <= rank) continue;
      const key = `${file} -> ${imported}`;
      if (ALLOWED.has(key)) {
        matched.add(key);
        continue;
      }
      upward.push(
        `src/${file}:${line} (${LAYERS[rank].name}) imports ${typeOnly ? 'types from ' : ''}src/${imported} (${LAYERS[to].name})`,
      );
    }
  }
  t.ok(count > 300, `read the imports of src/ (${count} in ${files.length} files)`);
  t.same(upward, [], 'imports run down the layers: move what a lower layer needs down to it');
  const stale = [...ALLOWED.keys()].filter((key) => !matched.has(key));
  t.same(stale, [], 'every allowed upward import still exists: remove the entries that do not');
});
