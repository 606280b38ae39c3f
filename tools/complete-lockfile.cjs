// Usage: node tools/complete-lockfile.cjs package-lock.json   (after any npm install that rewrites the lock)
// Adds lock entries for optional platform packages the registry mirror does not serve, so `npm ci` accepts the lock
// and skips them by os/cpu like any other foreign binary.
const fs = require('fs');
const path = process.argv[2];
const lock = JSON.parse(fs.readFileSync(path, 'utf8'));
const packages = lock.packages;
const platformOf = (name) => {
  const os = /darwin/.test(name) ? 'darwin' : /win32/.test(name) ? 'win32' : 'linux';
  const cpu = /arm64/.test(name) ? 'arm64' : /-arm(?!64)/.test(name) ? 'arm' : 'x64';
  const libc = os === 'linux' ? (/musl/.test(name) ? 'musl' : 'glibc') : undefined;
  return { os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : {}) };
};
let added = 0;
for (const entry of Object.values(packages)) {
  for (const [dep, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `node_modules/${dep}`;
    if (packages[at]) continue;
    packages[at] = {
      version: range,
      cpu: platformOf(dep).cpu,
      os: platformOf(dep).os,
      ...(platformOf(dep).libc ? { libc: platformOf(dep).libc } : {}),
      optional: true,
    };
    added++;
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
fs.writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} entries`);
