// The HTTP webhook adapter on a real server (127.0.0.1, a free port), driven through the Adapter interface
// (open → read the stream → ack/nack) while a real client waits for each answer: statuses, limits, signatures,
// keep-alive, the in-flight bound, stop and close.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { HttpAdapter, httpSpec } from '../../dist/adapters/http.js';
import { sleep } from '../helpers/http-clients.js';

const common = { maxMessageBytes: 1024 * 1024, log: () => {} };

/** An open adapter on a free port, its stream collected, closed after the test. */
async function serve(t, options = {}, maxInFlight = 100) {
  const adapter = new HttpAdapter({ port: 0, ...options });
  const readable = await adapter.open({ maxInFlight });
  const deliveries = [];
  readable.on('data', (batch) => deliveries.push(...batch));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(async () => {
    agent.destroy();
    await adapter.close();
  });
  return {
    adapter,
    readable,
    agent,
    /** Waits for `count` more deliveries and takes them. */
    async take(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (deliveries.length < count) {
        if (Date.now() > deadline) throw new Error(`${deliveries.length} deliveries, expected ${count}`);
        await sleep(5);
      }
      return deliveries.splice(0, count);
    },
    pending: () => deliveries.length,
    request: (options) => request({ port: adapter.port, agent, ...options }),
  };
}

/** One request; resolves with status, headers, parsed JSON body and the local port of the socket used. */
function request({ port, method = 'POST', path = '/', body, headers = {}, agent = false, chunks }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const parts = [];
      res.on('data', (chunk) => parts.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        resolve({
          status: res.statusCode,
          headers: res.headers,
          json: text ? JSON.parse(text) : null,
          localPort: res.socket?.localPort,
        });
      });
    });
    req.on('error', reject);
    if (chunks) {
      // Streams the body piece by piece (chunked), ignoring write errors once the server has answered.
      req.on('error', () => {});
      (async () => {
        for (const chunk of chunks) {
          if (req.destroyed) return;
          req.write(chunk);
          await sleep(5);
        }
        req.end();
      })();
    } else {
      req.end(body);
    }
  });
}

const sign = (secret, body) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

t.test('the spec declares the flags and checks them', async (t) => {
  t.same(Object.keys(httpSpec.flags).sort(), [
    'body-timeout',
    'headers-timeout',
    'host',
    'idle-timeout',
    'max-body-bytes-in-flight',
    'max-connections',
    'path',
    'port',
    'secret',
    'secret-file',
  ]);
  t.equal(httpSpec.flags.port.default, '8080');
  t.equal(httpSpec.flags.host.default, '127.0.0.1');
  t.equal(httpSpec.flags.path.default, '/');
  t.throws(() => httpSpec.create({ port: 'x' }, common), { code: 'MISSIVE_ERR_USAGE', message: /--port/ });
  t.throws(() => httpSpec.create({ path: 'hooks' }, common), { code: 'MISSIVE_ERR_USAGE', message: /--path/ });
  const adapter = httpSpec.create({ port: '0', path: '/hooks', secret: 's' }, common);
  t.ok(adapter instanceof HttpAdapter);
  t.equal(adapter.path, '/hooks');
  t.equal(adapter.canRequeue, true);
});

t.test('a POST becomes a delivery; ack answers 200 {"result":"ack"}', async (t) => {
  const s = await serve(t, { path: '/hooks' });
  t.ok(s.adapter.port > 0, 'port 0 picked a free port');
  t.equal(s.adapter.client.listening, true, 'client is the http.Server');
  const answer = s.request({
    path: '/hooks?from=test',
    body: '{"event":"paid"}',
    headers: {
      'Content-Type': 'application/json',
      'Idempotency-Key': 'evt-1',
      Authorization: 'Bearer x',
      Cookie: 'a=b',
      'X-Custom': 'Yes',
    },
  });
  const [delivery] = await s.take(1);
  t.equal(delivery.body.toString(), '{"event":"paid"}');
  t.equal(delivery.id, 'evt-1');
  t.match(delivery.meta, { source: 'http:/hooks', method: 'POST', path: '/hooks' });
  t.match(delivery.meta.headers, { 'content-type': 'application/json', 'idempotency-key': 'evt-1', 'x-custom': 'Yes' });
  t.notOk('authorization' in delivery.meta.headers, 'no authorization header');
  t.notOk('cookie' in delivery.meta.headers, 'no cookie header');
  t.same(structuredClone(delivery.meta), delivery.meta, 'meta is structured-cloneable');
  let answered = false;
  answer.then(() => (answered = true));
  await sleep(50);
  t.notOk(answered, 'the response waits for settlement');
  s.adapter.ack([delivery], 'handled');
  const res = await answer;
  t.equal(res.status, 200);
  t.same(res.json, { result: 'ack' });
  t.equal(res.headers['content-type'], 'application/json');
});

t.test('dead-lettered answers 200 {"result":"dead-lettered"}; nack 503 with Retry-After', async (t) => {
  const s = await serve(t);
  const dead = request({ port: s.adapter.port, body: 'a', headers: { 'X-Request-Id': 'req-7' } });
  const nacked = request({ port: s.adapter.port, body: 'b' });
  const [first, second] = (await s.take(2)).sort((a, b) => a.body.toString().localeCompare(b.body.toString()));
  t.equal(first.id, 'req-7', 'X-Request-Id is the id');
  t.equal(second.id, undefined, 'no id header: the pipeline makes one up');
  s.adapter.ack([first], 'dead-lettered');
  s.adapter.nack([second]);
  const [d, n] = await Promise.all([dead, nacked]);
  t.equal(d.status, 200);
  t.same(d.json, { result: 'dead-lettered' });
  t.equal(n.status, 503);
  t.equal(n.headers['retry-after'], '5');
  t.same(n.json, { result: 'nack' });
});

t.test('405 for other methods on the path, 404 elsewhere, /healthz 200', async (t) => {
  const s = await serve(t, { path: '/in' });
  const get = await request({ port: s.adapter.port, method: 'GET', path: '/in' });
  t.equal(get.status, 405);
  t.equal(get.headers.allow, 'POST');
  const put = await request({ port: s.adapter.port, method: 'PUT', path: '/in', body: 'x' });
  t.equal(put.status, 405);
  const missing = await request({ port: s.adapter.port, path: '/elsewhere', body: 'x' });
  t.equal(missing.status, 404);
  t.match(missing.json.error, /POSTed to \/in/);
  const health = await request({ port: s.adapter.port, method: 'GET', path: '/healthz' });
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok' });
  t.equal(s.pending(), 0, 'none of these is a message');
});

t.test(
  '413 for a body over the limit, declared or streamed, without reading it all; the connection closes',
  async (t) => {
    const s = await serve(t, { maxMessageBytes: 1024 });
    const declared = await request({ port: s.adapter.port, body: Buffer.alloc(5000, 'a') });
    t.equal(declared.status, 413);
    t.equal(declared.headers.connection, 'close');
    t.match(declared.json.error, /over the limit of 1024 bytes/);
    // Chunked, no Content-Length: refused once the limit is passed, long before the 1000 chunks are sent.
    const streamed = await request({
      port: s.adapter.port,
      chunks: Array.from({ length: 1000 }, () => Buffer.alloc(512, 'b')),
    });
    t.equal(streamed.status, 413);
    t.equal(streamed.headers.connection, 'close');
    const exact = request({ port: s.adapter.port, body: Buffer.alloc(1024, 'c') });
    const [delivery] = await s.take(1);
    t.equal(delivery.body.length, 1024, 'a body of exactly the limit is a message');
    s.adapter.ack([delivery], 'handled');
    t.equal((await exact).status, 200);
    t.equal(s.pending(), 0);
  },
);

t.test('--secret: a missing or wrong signature is 401, a good one passes', async (t) => {
  const secret = 'hook-secret';
  const s = await serve(t, { secret });
  const body = '{"n":1}';
  const missing = await request({ port: s.adapter.port, body });
  t.equal(missing.status, 401);
  t.match(missing.json.error, /x-missive-signature/);
  const wrong = await request({ port: s.adapter.port, body, headers: { 'X-Missive-Signature': sign('other', body) } });
  t.equal(wrong.status, 401);
  const garbled = await request({ port: s.adapter.port, body, headers: { 'X-Missive-Signature': 'sha256=abc' } });
  t.equal(garbled.status, 401);
  const tampered = await request({
    port: s.adapter.port,
    body: '{"n":2}',
    headers: { 'X-Missive-Signature': sign(secret, body) },
  });
  t.equal(tampered.status, 401, 'the signature of another body');
  t.equal(s.pending(), 0);
  const good = request({ port: s.adapter.port, body, headers: { 'X-Missive-Signature': sign(secret, body) } });
  const [delivery] = await s.take(1);
  t.equal(delivery.body.toString(), body);
  s.adapter.ack([delivery], 'handled');
  t.equal((await good).status, 200);
});

t.test('keep-alive: several requests on one socket', async (t) => {
  const s = await serve(t);
  const ports = new Set();
  for (let i = 0; i < 5; i++) {
    const answer = s.request({ body: `m${i}` });
    const [delivery] = await s.take(1);
    s.adapter.ack([delivery], 'handled');
    const res = await answer;
    t.equal(res.status, 200);
    ports.add(res.localPort);
  }
  t.equal(ports.size, 1, 'one client socket served all five');
});

t.test('the in-flight bound: past maxInFlight unanswered requests, 503 + Retry-After at once', async (t) => {
  const s = await serve(t, {}, 2);
  const held = [request({ port: s.adapter.port, body: '1' }), request({ port: s.adapter.port, body: '2' })];
  const deliveries = await s.take(2);
  const refused = await request({ port: s.adapter.port, body: '3' });
  t.equal(refused.status, 503);
  t.equal(refused.headers['retry-after'], '5');
  t.match(refused.json.error, /busy/);
  t.equal(s.adapter.busyRefusals, 1);
  t.equal(s.pending(), 0, 'the refused request never reached the stream');
  s.adapter.ack(deliveries, 'handled');
  t.same(
    (await Promise.all(held)).map((r) => r.status),
    [200, 200],
  );
  const after = s.request({ body: '4' });
  s.adapter.ack(await s.take(1), 'handled');
  t.equal((await after).status, 200, 'room again once answered');
});

t.test('stop(): the stream ends, new requests are refused, requests in flight are still answered', async (t) => {
  const s = await serve(t);
  const ended = new Promise((resolve) => s.readable.once('end', resolve));
  const inFlight = s.request({ body: 'before stop' });
  const [delivery] = await s.take(1);
  const idle = new http.Agent({ keepAlive: true });
  const warm = await request({ port: s.adapter.port, method: 'GET', path: '/healthz', agent: idle });
  t.equal(warm.status, 200);
  await s.adapter.stop();
  await ended;
  const refused = await new Promise((resolve) => {
    const socket = net.connect(s.adapter.port, '127.0.0.1');
    socket.once('connect', () => resolve('connected'));
    socket.once('error', (error) => resolve(error.code));
  });
  t.equal(refused, 'ECONNREFUSED', 'no new connections');
  s.adapter.ack([delivery], 'handled');
  const answer = await inFlight;
  t.equal(answer.status, 200, 'the request in flight is answered');
  t.equal(answer.headers.connection, 'close', 'and its connection closes');
  idle.destroy();
  await s.adapter.close();
  t.equal(s.adapter.client.listening, false);
});

t.test('stop(): a request that was arriving gets 503 (and /healthz says stopping); nacks still answer', async (t) => {
  const s = await serve(t);
  const held = s.request({ body: 'held' });
  const [delivery] = await s.take(1);
  // Requests whose headers were still arriving at stop() are answered, with 503.
  const late = rawRequest(s.adapter.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n', '\r\nlate');
  const health = rawRequest(s.adapter.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', '\r\n');
  await sleep(50);
  await s.adapter.stop();
  const [lateAnswer, healthAnswer] = await Promise.all([late.finish(), health.finish()]);
  t.match(lateAnswer, /^HTTP\/1\.1 503 [^]*retry-after: 5[^]*connection: close[^]*shutting down/i);
  t.match(healthAnswer, /^HTTP\/1\.1 503 [^]*"status":"stopping"/);
  t.equal(s.pending(), 0);
  s.adapter.nack([delivery]);
  const res = await held;
  t.equal(res.status, 503);
  t.same(res.json, { result: 'nack' });
});

/** A raw connection that sends `head` now and `rest` on `finish()`, which resolves with the whole answer. */
function rawRequest(port, head, rest) {
  const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
  let text = '';
  socket.on('data', (chunk) => (text += chunk));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  return {
    async finish() {
      socket.write(rest);
      await closed;
      return text;
    },
  };
}

t.test('close() answers 503 to what was never settled, then closes', async (t) => {
  const adapter = new HttpAdapter({ port: 0 });
  const readable = await adapter.open({ maxInFlight: 10 });
  readable.resume();
  const answer = request({ port: adapter.port, body: 'never settled' });
  await sleep(100);
  await adapter.close();
  const res = await answer;
  t.equal(res.status, 503);
  t.equal(res.headers['retry-after'], '5');
});

t.test('a port in use: a TransportError saying what to do', async (t) => {
  const first = new HttpAdapter({ port: 0 });
  await first.open({ maxInFlight: 1 });
  t.teardown(() => first.close());
  const second = new HttpAdapter({ port: first.port });
  await t.rejects(second.open({ maxInFlight: 1 }), { code: 'MISSIVE_ERR_TRANSPORT', message: /EADDRINUSE.*--port/ });
});
