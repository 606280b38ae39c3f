// Lint: type-aware rules on src/ (the promise rules catch what strict tsc cannot: a dropped promise, an async
// callback where a sync one is expected), the plain recommended rules on the JS of tests, benchmarks and examples.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The globals of the Node that runs the lint, read from the runtime itself rather than from a copied list.
const nodeGlobals = Object.fromEntries(
  [...Object.getOwnPropertyNames(globalThis), 'process', 'Buffer', 'global', 'setImmediate', 'clearImmediate'].map(
    (name) => [name, 'readonly'],
  ),
);

// The DLQ page's script runs in a browser, served as is (no bundler).
const browserGlobals = Object.fromEntries(
  [
    'window',
    'document',
    'location',
    'history',
    'navigator',
    'localStorage',
    'sessionStorage',
    'HTMLElement',
    'Node',
    'requestAnimationFrame',
    'cancelAnimationFrame',
    'getComputedStyle',
    'matchMedia',
    'ResizeObserver',
    'IntersectionObserver',
    'alert',
    'confirm',
    'prompt',
    'uPlot',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'test/fixtures/typed-processor.ts'],
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: nodeGlobals },
    rules: {
      // An unused catch binding, a leading `_name` or a property left out by a rest pattern is a deliberate
      // "ignored"; unused imports and variables are not.
      'no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `catch {}` is how a best-effort cleanup says "already gone is fine".
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // Tests match what the CLI prints: a regex with the run of spaces or the terminal escape (`\x1b[K`) it prints
    // reads as the output itself.
    files: ['test/**/*.js'],
    rules: { 'no-regex-spaces': 'off', 'no-control-regex': 'off' },
  },
  {
    // The callbacks given to Playwright's page.evaluate run in the browser.
    files: ['test/dlq-serve-browser.test.js'],
    languageOptions: { globals: { ...nodeGlobals, ...browserGlobals } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...nodeGlobals, require: 'readonly', module: 'writable' } },
  },
  {
    files: ['src/serve/page/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...nodeGlobals, ...browserGlobals } },
  },
  {
    files: ['src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      // The `!` on indexed reads (`items[i]!`) says "in bounds" to the reader and keeps the code ready for
      // noUncheckedIndexedAccess; without that flag tsc sees them as redundant, which is not a defect.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // An `async` method that does not await is how an interface's Promise-returning member is implemented
      // synchronously (a throw becomes a rejection, as callers expect); adapters and stores do this on purpose.
      '@typescript-eslint/require-await': 'off',
      // Errors from libraries, streams and sockets arrive typed `unknown` and are passed on as received (wrapping
      // them would change what callers and the dead letters see); a narrowed `unknown` must pass as well.
      // The same for a rethrow: an `unknown` narrowed by `error ? reject(error) : ...` or `!== undefined` is still
      // the library's error, passed on unchanged.
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // The handler context's free-form `state` is typed `any` on purpose (public API: users put their own pool
    // there and read it back without casts), as the comment on `ProcessingContext.state` says.
    files: ['src/context.ts', 'src/workers/context.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // nats is imported lazily (an optional transport), so its status and policy enums are compared with their
    // string values, which is what the enums hold.
    files: ['src/adapters/nats.ts', 'src/adapters/nats-topology.ts'],
    rules: { '@typescript-eslint/no-unsafe-enum-comparison': 'off' },
  },
);
