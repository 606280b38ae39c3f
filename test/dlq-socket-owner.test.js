// Nobody but the user may answer for the user's dead-letter store: `missive dlq` refuses a socket directory (or a
// socket) that is not the user's own and private, whoever made it, and `missive run` says it cannot serve there.
// The other user is a real one, made here with useradd, whose process listens on a socket of the right name and
// answers with a forged letter.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { DuckDbDlq } from '../dist/dlq/duckdb.js';
import { fixture, readDeadLetters, runCli } from './helpers/cli.js';
import { privateTmp, socketIn } from './helpers/dlq-socket.js';

const isRoot = process.getuid?.() === 0;
const hasUseradd = spawnSync('useradd', ['--help']).status === 0;
const rootSkip = isRoot && hasUseradd ? {} : { skip: 'needs root and useradd to create a second local user' };

/** A store with one real letter, at `path`, closed again. */
async function storeWithLetter(path) {
  const dlq = await DuckDbDlq.open(path, { serve: false });
  await dlq.put([{ id: 'real-1', body: Buffer.from('{"fixed":false}'), reason: 'handler failed' }]);
  await dlq.close();
}

/** Starts the forged server (as `uid`, or this user), its directory given `mode`; resolves once it listens. */
async function forgedServer(t, socketPath, realPath, mode, uid) {
  const args = [fixture('forged-dlq-socket.js'), socketPath, realPath, mode];
  const child =
    uid === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, ...args], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`the forged server exited with ${code}`)));
  });
}

/** What the victim's `dlq list`, `dlq replay` and `run` make of the place, with TMPDIR=`tmp`. */
async function checkRefused(t, tmp, path, why) {
  const env = { TMPDIR: tmp };
  const dir = dirname(socketIn(tmp, path));
  const list = await runCli(['dlq', 'list', '--dlq', path], { env });
  t.equal(list.code, 1, 'dlq list refuses');
  t.notMatch(list.stdout, /FORGED|forged/, 'and shows no forged letter');
  t.match(list.stderr, dir, 'naming the directory');
  t.match(list.stderr, why);
  t.match(list.stderr, /another user could answer there .* Remove .* or set TMPDIR/, 'and what to do');

  const replay = await runCli(['dlq', 'replay', fixture('replay-processor.js'), '--dlq', path], { env });
  t.equal(replay.code, 1, 'dlq replay refuses');
  t.notMatch(replay.stdout, /replayed/, 'and runs nothing through the handler');
  t.match(replay.stderr, why);

  const run = await runCli(['run', fixture('always-fails-processor.js'), '--threads', '0', '--dlq', path], {
    env,
    input: 'x\n',
  });
  t.equal(run.code, 0, 'the run exits 0');
  t.match(
    run.stderr,
    new RegExp(`missive dlq commands cannot reach ${path} while this process holds it: ${dir}`),
    'run warns, naming the directory',
  );
  t.match(run.stderr, why);
  t.match(run.stderr, /1 received · 0 acked · 0 nacked · 1 dead letters/, 'and runs on');
  t.equal((await readDeadLetters(path)).length, 2, 'storing its letter');
}

t.test("another local user's directory and socket: refused, and the run says it cannot serve", rootSkip, async (t) => {
  const user = `msk${randomBytes(4).toString('hex')}`;
  const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], {
    encoding: 'utf8',
  });
  t.equal(made.status, 0, made.stderr);
  t.teardown(() => spawnSync('userdel', [user]));
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout);
  // Like /tmp: anybody may make a directory in it.
  const tmp = privateTmp(t, 0o1777);
  const path = join(tmp, 'dead.duckdb');
  await storeWithLetter(path);
  await forgedServer(t, socketIn(tmp, path), path, '777', uid);
  await checkRefused(t, tmp, path, new RegExp(`is owned by uid ${uid}, not by this user`));
});

t.test('a directory of the user that others may write to, or a symlink, is refused too', async (t) => {
  const open = privateTmp(t);
  const path = join(open, 'dead.duckdb');
  await storeWithLetter(path);
  await forgedServer(t, socketIn(open, path), path, '757');
  await checkRefused(t, open, path, /has mode 0757, open to other users/);

  const linked = privateTmp(t);
  const linkedPath = join(linked, 'dead.duckdb');
  await storeWithLetter(linkedPath);
  const target = join(linked, 'elsewhere');
  mkdirSync(target, { mode: 0o700 });
  symlinkSync(target, dirname(socketIn(linked, linkedPath)));
  await forgedServer(t, socketIn(linked, linkedPath), linkedPath, '700');
  await checkRefused(t, linked, linkedPath, /is a symbolic link, not a directory/);
});
