// The HTTP adapter against clients that misbehave, on a real server with real sockets: bodies that trickle or
// stall, many large bodies at once, connections that send nothing or stay open, more connections than allowed.
// Driven through the Adapter interface (open → read the stream → ack), as http.test.js does.
import t from 'tap';
import { HttpAdapter } from '../../dist/adapters/http.js';
import { FORGED_SIGNATURE, postHead, rawSocket, request, sign, sleep } from '../helpers/http-clients.js';
import { until } from '../helpers/until.js';

/** An open adapter on a free port whose deliveries are collected; closed after the test. */
async function serve(t, options = {}, maxInFlight = 100) {
  const adapter = new HttpAdapter({ port: 0, ...options });
  const readable = await adapter.open({ maxInFlight });
  const deliveries = [];
  readable.on('data', (batch) => deliveries.push(...batch));
  t.teardown(() => adapter.close());
  return {
    adapter,
    port: adapter.port,
    /** Waits for `count` more deliveries and takes them. */
    async take(count) {
      while (deliveries.length < count) await sleep(5);
      return deliveries.splice(0, count);
    },
    pending: () => deliveries.length,
  };
}

t.test(
  'bodies still arriving hold no in-flight slot: trickling senders do not make a signed one get 503',
  async (t) => {
    const secret = 'hook-secret';
    const s = await serve(t, { secret }, 2);
    // Five times the in-flight cap of senders whose signature header looks right and whose body never ends.
    const tricklers = Array.from({ length: 10 }, () => rawSocket(s.port));
    for (const trickler of tricklers) {
      trickler.write(postHead(100, { 'X-Missive-Signature': FORGED_SIGNATURE }));
      trickler.write('{"n":');
    }
    await until(() => s.adapter.bytesInFlight === 1000, '1000 bytes in flight');
    const bodies = ['{"n":1}', '{"n":2}'];
    const answers = bodies.map((body) =>
      request({ port: s.port, body, headers: { 'X-Missive-Signature': sign(secret, body) } }),
    );
    const deliveries = await s.take(2);
    t.same(deliveries.map((d) => d.body.toString()).sort(), bodies, 'both signed messages took the two slots');
    t.equal(s.adapter.busyRefusals, 0, 'nobody was told busy');
    // With both slots taken by complete messages the cap does apply.
    const third = await request({
      port: s.port,
      body: '{"n":3}',
      headers: { 'X-Missive-Signature': sign(secret, '{"n":3}') },
    });
    t.equal(third.status, 503, 'a third signed request is refused: the slots are the signed ones');
    s.adapter.ack(deliveries, 'handled');
    t.same(
      (await Promise.all(answers)).map((a) => a.status),
      [200, 200],
    );
    // A trickler that finishes with the forged signature is refused 401 and never reaches the pipeline.
    tricklers[0].write(`${'1'.padEnd(94)}}`);
    t.match(await tricklers[0].until(/\r\n\r\n\{.*\}/), /^HTTP\/1\.1 401 /);
    t.equal(s.pending(), 0);
    for (const trickler of tricklers) trickler.destroy();
    await until(() => s.adapter.bytesInFlight === 0, '0 bytes in flight');
    t.pass('their bytes are released when they go away');
  },
);

t.test('with a secret, a POST without a signature header is refused 401 before its body is read', async (t) => {
  const s = await serve(t, { secret: 's' });
  const client = rawSocket(s.port);
  // Declares a megabyte and sends none of it: the answer cannot have waited for the body.
  client.write(postHead(1024 * 1024));
  const text = await client.closed;
  t.match(text, /^HTTP\/1\.1 401 [^]*connection: close[^]*x-missive-signature/i);
  t.equal(s.adapter.unsignedRefusals, 1);
  t.equal(s.adapter.peakBytesInFlight, 0, 'not a byte of the budget was taken');
  const garbled = await request({ port: s.port, body: 'x', headers: { 'X-Missive-Signature': 'sha256=abc' } });
  t.equal(garbled.status, 401, 'a malformed header is refused the same way');
  t.equal(s.adapter.unsignedRefusals, 2);
});

t.test('the byte budget: past it, 503 + Retry-After at once, the body unread; memory stays within it', async (t) => {
  const s = await serve(t, { maxMessageBytes: 1000, maxBodyBytesInFlight: 3000 });
  // Ten declared bodies of 1000 bytes whose bytes are never sent: three fit, the other seven are refused at once.
  const clients = Array.from({ length: 10 }, () => rawSocket(s.port));
  for (const client of clients) client.write(postHead(1000));
  const refused = () => clients.filter((client) => /bytes of bodies in flight/.test(client.text()));
  await until(() => refused().length === 7, 'seven refused');
  for (const client of refused()) {
    t.match(
      await client.closed,
      /^HTTP\/1\.1 503 [^]*retry-after: 5[^]*connection: close/i,
      '503 + Retry-After, closed',
    );
  }
  t.equal(s.adapter.budgetRefusals, 7);
  t.equal(s.adapter.bytesInFlight, 3000, 'the three admitted bodies hold their declared bytes while they arrive');
  t.equal(s.adapter.peakBytesInFlight, 3000, 'never more than the budget');
  // Finishing the admitted bodies: they become messages, still counted until answered.
  const admitted = clients.filter((client) => client.text() === '');
  t.equal(admitted.length, 3);
  for (const client of admitted) client.write('x'.repeat(1000));
  const deliveries = await s.take(3);
  t.equal(s.adapter.bytesInFlight, 3000, 'bodies waiting for their outcome stay in the budget');
  const late = await request({ port: s.port, body: 'y'.repeat(10) });
  t.equal(late.status, 503, 'even a small body is refused while the budget is full');
  s.adapter.ack(deliveries, 'handled');
  for (const client of admitted) t.match(await client.until(/\{"result":"ack"\}/), /^HTTP\/1\.1 200 /);
  t.equal(s.adapter.bytesInFlight, 0, 'answered bodies give their bytes back');
  const after = request({ port: s.port, body: 'z' });
  s.adapter.ack(await s.take(1), 'handled');
  t.equal((await after).status, 200, 'room again');
  t.equal(s.adapter.peakBytesInFlight, 3000);
  for (const client of clients) client.destroy();
});

t.test('the byte budget holds for chunked bodies too: refused once the next chunk does not fit', async (t) => {
  const s = await serve(t, { maxMessageBytes: 4000, maxBodyBytesInFlight: 4000 });
  const holder = rawSocket(s.port);
  holder.write(postHead(3000));
  await until(() => s.adapter.bytesInFlight === 3000, '3000 bytes in flight');
  const chunked = rawSocket(s.port);
  chunked.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  chunked.write(`${(500).toString(16)}\r\n${'a'.repeat(500)}\r\n`);
  await until(() => s.adapter.bytesInFlight === 3500, '3500 bytes in flight');
  chunked.write(`${(600).toString(16)}\r\n${'b'.repeat(600)}\r\n`);
  t.match(await chunked.closed, /^HTTP\/1\.1 503 [^]*bytes of bodies in flight/);
  await until(() => s.adapter.bytesInFlight === 3000, '3000 bytes in flight');
  t.equal(s.adapter.peakBytesInFlight, 3500, 'the chunk that did not fit was never kept');
  holder.destroy();
  await until(() => s.adapter.bytesInFlight === 0, '0 bytes in flight');
  t.equal(s.pending(), 0);
});

t.test('a body that stalls is answered 408 after the body timeout; its bytes and socket are released', async (t) => {
  const s = await serve(t, { bodyTimeoutMs: 200 });
  const client = rawSocket(s.port);
  client.write(postHead(100));
  client.write('{"half":');
  await until(() => s.adapter.bytesInFlight === 100, '100 bytes in flight');
  const text = await client.closed;
  t.match(text, /^HTTP\/1\.1 408 [^]*connection: close[^]*did not arrive within 200 ms/i, '408, then closed');
  t.equal(s.adapter.bodyTimeouts, 1);
  t.equal(s.adapter.bytesInFlight, 0, 'the reserved bytes are back');
  t.equal(s.pending(), 0, 'nothing reached the pipeline');
  const whole = request({ port: s.port, body: '{"whole":true}' });
  s.adapter.ack(await s.take(1), 'handled');
  t.equal((await whole).status, 200, 'a body that arrives in time is a message');
});

t.test('connections that send nothing, or stop after their answer, are closed by the server', async (t) => {
  const s = await serve(t, { headersTimeoutMs: 200, idleTimeoutMs: 200 });
  const silent = rawSocket(s.port);
  const partial = rawSocket(s.port);
  partial.write('POST / HTTP/1.1\r\nHost: x\r\n');
  t.match(await silent.closed, /^(HTTP\/1\.1 408 |$)/, 'a socket that never sends a request line is closed');
  t.match(await partial.closed, /^HTTP\/1\.1 408 /, 'one whose headers stall gets 408 and is closed');
  const kept = rawSocket(s.port);
  kept.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await kept.until(/"status":"ok"/);
  t.match(await kept.closed, /^HTTP\/1\.1 200 [^]*keep-alive/i, 'a kept-alive socket left idle is closed');
  t.equal(s.pending(), 0);
});

t.test(
  'at maxConnections with every connection busy, a new one is closed at once; room again when one closes',
  async (t) => {
    const logs = [];
    const s = await serve(t, { maxConnections: 2, log: (level, message) => logs.push({ level, message }) });
    // Two connections each holding a request that waits for its outcome.
    const held = [rawSocket(s.port), rawSocket(s.port)];
    held[0].write(postHead(1) + 'a');
    held[1].write(postHead(1) + 'b');
    const deliveries = await s.take(2);
    const extra = rawSocket(s.port);
    extra.write(postHead(1) + 'c');
    t.equal(await extra.closed, '', 'the third connection is closed without an answer');
    t.equal(s.adapter.droppedConnections, 1);
    t.equal(s.pending(), 0, 'its request never reached the pipeline');
    t.match(
      logs.filter((line) => line.level === 'warn'),
      [{ message: /2 connections are open, each with a request in progress[^]*--max-connections/ }],
    );
    s.adapter.ack(deliveries, 'handled');
    for (const client of held) t.match(await client.until(/"result":"ack"/), /^HTTP\/1\.1 200 /);
    held[0].destroy();
    let answer;
    // The server learns of the close asynchronously: retry until the freed place is taken.
    do {
      answer = await request({ port: s.port, method: 'GET', path: '/healthz' });
      if (answer.error) await sleep(10);
    } while (answer.error);
    t.equal(answer.status, 200, 'a new connection is served once one has closed');
    held[1].destroy();
  },
);

t.test(
  'at maxConnections, a new connection closes the one idle longest: silent sockets do not lock senders out',
  async (t) => {
    const s = await serve(t, { maxConnections: 3 });
    // Three connections that never send anything, opened one after the other.
    const silent = [];
    for (let i = 0; i < 3; i++) {
      const socket = rawSocket(s.port);
      await socket.connected;
      silent.push(socket);
    }
    const answer = request({ port: s.port, body: 'real sender' });
    const [delivery] = await s.take(1);
    t.equal(delivery.body.toString(), 'real sender', 'the new connection is served');
    t.equal(await silent[0].closed, '', 'the one idle longest was closed to make room');
    t.equal(s.adapter.evictedConnections, 1);
    t.equal(s.adapter.droppedConnections, 0);
    // The busy connection is not a candidate: the next newcomer closes the next silent one, not it.
    const second = request({ port: s.port, method: 'GET', path: '/healthz' });
    t.equal((await second).status, 200);
    t.equal(await silent[1].closed, '');
    t.equal(s.adapter.evictedConnections, 2);
    s.adapter.ack([delivery], 'handled');
    t.equal((await answer).status, 200, 'the busy connection kept its request');
    for (const socket of silent) socket.destroy();
  },
);

t.test(
  'Expect: 100-continue: the sender is invited to send its body only once the checks without it passed',
  async (t) => {
    const secret = 'continue-secret';
    const s = await serve(t, { secret, maxMessageBytes: 1000, maxBodyBytesInFlight: 1000 });
    const unsigned = rawSocket(s.port);
    unsigned.write(postHead(10, { Expect: '100-continue' }));
    t.match(await unsigned.closed, /^HTTP\/1\.1 401 /, 'no signature header: 401, never a 100');
    const tooLarge = rawSocket(s.port);
    tooLarge.write(postHead(5000, { Expect: '100-continue', 'X-Missive-Signature': FORGED_SIGNATURE }));
    t.match(await tooLarge.closed, /^HTTP\/1\.1 413 /, 'over the limit: 413, never a 100');
    const body = '{"n":1}';
    const signed = rawSocket(s.port);
    signed.write(postHead(body.length, { Expect: '100-continue', 'X-Missive-Signature': sign(secret, body) }));
    t.match(
      await signed.until(/\r\n\r\n/),
      /^HTTP\/1\.1 100 Continue\r\n\r\n$/,
      'a request that may send its body is asked for it',
    );
    signed.write(body);
    const [delivery] = await s.take(1);
    t.equal(delivery.body.toString(), body);
    s.adapter.ack([delivery], 'handled');
    t.match(await signed.until(/"result":"ack"/), /HTTP\/1\.1 200 /);
    signed.destroy();
  },
);
