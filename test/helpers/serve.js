// Starts the real `missive dlq serve` and talks to it over HTTP, for the dead-letter page's tests.
import { request } from 'node:http';
import { DuckDbDlq } from '../../dist/dlq/duckdb.js';
import { startCli, waitForOutput } from './cli.js';

/** Starts `missive dlq serve --port 0` on `path`; resolves with the printed URL, its base and the child. */
export async function startServe(t, path, args = [], { env } = {}) {
  const started = startCli(['dlq', 'serve', '--dlq', path, '--port', '0', ...args], { env, keepStdinOpen: true });
  t.teardown(() => {
    started.child.kill('SIGTERM');
    return started.done;
  });
  await waitForOutput(started, /serving the dead letters of .* at http:\/\/\S+/);
  const url = /at (http:\/\/\S+)/.exec(started.output().stdout)[1];
  const base = url.replace(/#.*$/, '');
  const token = /#token=(\S+)$/.exec(url)?.[1];
  return { started, url, base, token };
}

/**
 * A request to the page's API; resolves with the status and the parsed JSON answer. node:http rather than fetch,
 * which will not send a Host header of the caller's choosing.
 */
export function call(base, path, { method = 'GET', token, body, headers = {} } = {}) {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const sent = request(new URL(path, base), {
      method,
      headers: {
        ...(token === undefined ? {} : { 'x-missive-token': token }),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode, json, text, headers: response.headers });
      });
    });
    sent.on('error', reject);
    sent.end(payload);
  });
}

/** Writes letters into a new dead-letter file and closes it again. */
export async function writeLetters(path, letters) {
  const dlq = await DuckDbDlq.open(path);
  try {
    for (let i = 0; i < letters.length; i += 5000) await dlq.put(letters.slice(i, i + 5000));
  } finally {
    await dlq.close();
  }
}

/** A small, varied set of letters, all failed in the last minutes: what the page's tests look at. */
export function sampleLetters(now = Date.now()) {
  const at = (minutesAgo) => new Date(now - minutesAgo * 60_000);
  const json = (value) => Buffer.from(JSON.stringify(value));
  return [
    { id: 'orders:1', body: json({ order: 1, fixed: true }), reason: 'handler failed', error: 'Error: out of stock: item 7\n    at reserve (processor.js:3:9)', handler: 'reserve', source: 'file:orders.jsonl', headers: { line: 1 }, attempts: 2, failedAt: at(50) },
    { id: 'orders:2', body: json({ order: 2 }), reason: 'handler failed', error: 'Error: out of stock: item 9', handler: 'reserve', source: 'file:orders.jsonl', failedAt: at(40) },
    { id: 'orders:3', body: json({ order: 3 }), reason: 'handler failed', error: 'Error: address missing', handler: 'ship', source: 'file:orders.jsonl', failedAt: at(30) },
    { id: 'orders:4', body: Buffer.from('not json at all'), reason: 'no matching handler', source: 'amqp:orders', failedAt: at(20) },
    { id: 'orders:5', body: Buffer.from([0x00, 0xff, 0x41]), reason: 'no matching handler', source: 'amqp:orders', failedAt: at(10) },
    {
      id: 'payments:1', body: json({ card: '4111 1111 1111 1111' }), reason: 'handler failed', error: 'Error: declined: 4111 1111 1111 1111',
      handler: 'charge', source: 'amqp:payments', headers: { 'x-card-holder': 'Ada Lovelace' }, confidential: true, failedAt: at(5),
    },
  ];
}
