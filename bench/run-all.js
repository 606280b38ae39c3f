// `npm run bench`: every benchmark in this folder, one after another (they share two cores, so never at once).
// Each prints its figures against its own baseline and writes bench/results/<name>.json.
// Usage: npm run bench [-- name ...]   e.g. npm run bench -- pipeline dlq
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BENCHES = ['pipeline', 'delivery-path', 'dlq', 'redis-streams', 'amqp', 'nats', 'scale-out'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : BENCHES;
let failed = 0;
for (const name of chosen) {
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  if (!existsSync(file)) {
    console.error(`bench: no bench/${name}.js (have: ${BENCHES.join(', ')})`);
    failed++;
    continue;
  }
  console.log(`\n=== bench/${name}.js`);
  const { status } = spawnSync(process.execPath, [file], { stdio: 'inherit' });
  if (status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
