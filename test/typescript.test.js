// A processor written in TypeScript with every strict check on compiles against the published types, as the
// README's example promises. Real tsc, against dist/'s declaration files through the package's own exports.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

t.test('the README processor compiles under --strict', async (t) => {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const args = [
    '--noEmit',
    '--strict',
    '--noUncheckedIndexedAccess',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--types',
    'node',
    'test/fixtures/typed-processor.ts',
  ];
  const result = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: 'utf8' });
  t.equal(result.status, 0, 'tsc found no error', { output: result.stdout + result.stderr });
});
