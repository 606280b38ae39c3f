// `--adapter http` flags: the limits and timeouts with their defaults, and --secret-file with its errors.
import t from 'tap';
import { join } from 'node:path';
import { DEFAULT_MAX_BODY_BYTES_IN_FLIGHT, HttpAdapter, httpSpec } from '../../dist/adapters/http.js';
import { request, sign } from '../helpers/http-clients.js';

const common = { maxMessageBytes: 1024 * 1024, log: () => {} };

t.test('every limit has a flag with a default, and the defaults are in force when no flag is given', async (t) => {
  const flags = httpSpec.flags;
  t.equal(flags['body-timeout'].default, '30000');
  t.equal(flags['headers-timeout'].default, '10000');
  t.equal(flags['idle-timeout'].default, '5000');
  t.equal(flags['max-connections'].default, '512');
  t.match(flags['max-body-bytes-in-flight'].default, /^67108864 \(64 MiB\)/);
  for (const spec of Object.values(flags)) t.type(spec.description, 'string');
  const adapter = httpSpec.create({ port: '0' }, common);
  t.same(adapter.limits, {
    maxMessageBytes: 1024 * 1024,
    maxBodyBytesInFlight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
    bodyTimeoutMs: 30_000,
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 5_000,
    maxConnections: 512,
    retryAfterSeconds: 5,
  });
  const big = httpSpec.create({ port: '0' }, { ...common, maxMessageBytes: 64 * 1024 * 1024 });
  t.equal(big.limits.maxBodyBytesInFlight, 4 * 64 * 1024 * 1024, 'large messages raise the default budget');
});

t.test('the flags set the limits; bad values are usage errors naming the flag', async (t) => {
  const adapter = httpSpec.create(
    {
      port: '0',
      'body-timeout': '250',
      'headers-timeout': '300',
      'idle-timeout': '350',
      'max-connections': '7',
      'max-body-bytes-in-flight': '2097152',
    },
    common,
  );
  t.match(adapter.limits, {
    bodyTimeoutMs: 250,
    headersTimeoutMs: 300,
    idleTimeoutMs: 350,
    maxConnections: 7,
    maxBodyBytesInFlight: 2097152,
  });
  for (const name of [
    'body-timeout',
    'headers-timeout',
    'idle-timeout',
    'max-connections',
    'max-body-bytes-in-flight',
  ]) {
    t.throws(() => httpSpec.create({ [name]: 'soon' }, common), {
      code: 'MISSIVE_ERR_USAGE',
      message: new RegExp(`--${name}`),
    });
    t.throws(() => httpSpec.create({ [name]: '0' }, common), {
      code: 'MISSIVE_ERR_USAGE',
      message: new RegExp(`--${name}`),
    });
  }
  t.throws(() => httpSpec.create({ 'max-body-bytes-in-flight': '1000' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--max-body-bytes-in-flight, 1000\) must be at least maxMessageBytes \(1048576\)[^]*--max-message-bytes/,
  });
  t.throws(() => new HttpAdapter({ bodyTimeoutMs: -1 }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /bodyTimeoutMs/,
  });
  t.throws(() => new HttpAdapter({ maxConnections: 1.5 }), {
    code: 'MISSIVE_ERR_INVALID_OPTION',
    message: /maxConnections/,
  });
});

t.test('--secret-file: the secret is the file without its trailing newline', async (t) => {
  const dir = t.testdir({ secret: 'from-a-file\n', crlf: 'windows\r\n' });
  const adapter = httpSpec.create({ port: '0', 'secret-file': join(dir, 'secret') }, common);
  const readable = await adapter.open({ maxInFlight: 10 });
  t.teardown(() => adapter.close());
  readable.on('data', (batch) => adapter.ack(batch, 'handled'));
  const body = '{"signed":true}';
  const good = await request({
    port: adapter.port,
    body,
    headers: { 'X-Missive-Signature': sign('from-a-file', body) },
  });
  t.equal(good.status, 200, 'signed with the file text, newline dropped');
  const withNewline = await request({
    port: adapter.port,
    body,
    headers: { 'X-Missive-Signature': sign('from-a-file\n', body) },
  });
  t.equal(withNewline.status, 401, 'the newline is not part of the secret');
  t.equal((await request({ port: adapter.port, body })).status, 401, 'unsigned is refused');
  const crlf = httpSpec.create({ port: '0', 'secret-file': join(dir, 'crlf') }, common);
  t.ok(crlf instanceof HttpAdapter, 'a CRLF ending is dropped too');
});

t.test('--secret-file errors say what to do', async (t) => {
  const dir = t.testdir({ empty: '', newline: '\n', secret: 's' });
  t.throws(() => httpSpec.create({ 'secret-file': join(dir, 'missing') }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--secret-file .*missing cannot be read \(ENOENT[^]*give the path of a readable file/,
  });
  t.throws(() => httpSpec.create({ 'secret-file': dir }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /cannot be read \(EISDIR/,
  });
  for (const name of ['empty', 'newline']) {
    t.throws(() => httpSpec.create({ 'secret-file': join(dir, name) }, common), {
      code: 'MISSIVE_ERR_USAGE',
      message: /is empty; write the signature secret into it/,
    });
  }
  t.throws(() => httpSpec.create({ secret: 'a', 'secret-file': join(dir, 'secret') }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /give --secret or --secret-file, not both/,
  });
  t.throws(() => httpSpec.create({ 'secret-file': '' }, common), {
    code: 'MISSIVE_ERR_USAGE',
    message: /--secret-file needs/,
  });
});
