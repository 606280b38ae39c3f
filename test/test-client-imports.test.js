// Imports run one way: the processor does not import the test client or the pipeline, and nothing in dist/ imports
// itself back through others. A short walk of the import graph instead of a dependency (madge).
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** Every module under `root` ending in `ext`, with the relative modules it imports statically (`import()` aside). */
function graphOf(root, ext) {
  const graph = new Map();
  for (const file of readdirSync(root, { recursive: true }).filter((name) => name.endsWith(ext))) {
    const path = join(root, file);
    const text = readFileSync(path, 'utf8');
    const imports = [];
    // `import x from './a.js'`, `export { x } from './a.js'`, `import './a.js'`, and `import type` in .d.ts files.
    for (const match of text.matchAll(/^\s*(?:import|export)\s(?:[^;'"]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      imports.push(relative(root, resolve(dirname(path), match[1].replace(/\.js$/, ext))));
    }
    graph.set(relative(root, path), imports);
  }
  return graph;
}

/** The cycles found by a depth-first walk: each as the list of modules around it. */
function cyclesOf(graph) {
  const cycles = [];
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

/** Every module `start` loads, directly or not. */
function reachableFrom(graph, start) {
  const seen = new Set();
  const walk = (node) => {
    for (const next of graph.get(node) ?? []) if (!seen.has(next)) seen.add(next) && walk(next);
  };
  walk(start);
  return seen;
}

t.test('the walk sees imports, type imports and re-exports', async (t) => {
  const js = graphOf(dist, '.js');
  t.ok(js.get('index.js').includes('processor.js'));
  t.ok(js.get('test-client.js').includes('run.js'));
  const types = graphOf(dist, '.d.ts');
  t.ok(types.get('test-client.d.ts').includes('processor.d.ts'), 'test-client.d.ts augments processor.d.ts');
  t.same(
    cyclesOf(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
      ]),
    ),
    [['a', 'b', 'c', 'a']],
    'and finds a cycle',
  );
});

for (const ext of ['.js', '.d.ts']) {
  t.test(`no module in dist/ imports itself back (${ext})`, async (t) => {
    t.same(
      cyclesOf(graphOf(dist, ext)).map((cycle) => cycle.join(' -> ')),
      [],
    );
  });
}

t.test('the processor loads neither the test client nor the pipeline; the test client sits above run()', async (t) => {
  const js = graphOf(dist, '.js');
  const fromProcessor = [...reachableFrom(js, 'processor.js')];
  t.same(
    fromProcessor.filter((m) => /^(test-client|run)\.js$|^(streams|adapters|dlq|cli)\//.test(m)),
    [],
  );
  for (const module of ['routing.js', 'route.js', 'confidential.js']) {
    t.notOk(reachableFrom(js, module).has('processor.js'), `${module} does not import the processor`);
  }
  t.ok(reachableFrom(js, 'test-client.js').has('run.js'), 'the test client runs through run()');
  // run() loads the pipeline when a run starts (so that the workers, which import the package, never do).
  t.match(
    readFileSync(join(dist, 'run.js'), 'utf8'),
    /import\('\.\/streams\/pipeline\.js'\)/,
    'run() imports the pipeline',
  );
  for (const [module] of js) {
    if (module.startsWith('workers/')) {
      t.same(
        [...reachableFrom(js, module)].filter((m) => /^(streams|adapters|cli)\/|^(run|test-client)\.js$/.test(m)),
        [],
        `${module} stays below the pipeline`,
      );
    }
  }
});
