// Real HTTP clients for the HTTP adapter's tests and bench: node:http requests, raw sockets that send what a
// misbehaving client sends (headers only, a trickle, nothing), and the port a `missive run --adapter http` child
// listens on.
import http from 'node:http';
import net from 'node:net';
import { createHmac } from 'node:crypto';

/** The X-Missive-Signature value of `body` keyed with `secret`. */
export const sign = (secret, body) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/** A signature header that is well-formed but matches nothing: gets past the header check, fails the body's. */
export const FORGED_SIGNATURE = `sha256=${'0'.repeat(64)}`;

/**
 * One request; resolves with status, headers and parsed JSON body, or with `{ error }` (its code) when the
 * connection failed before an answer came.
 */
export function request({ port, method = 'POST', path = '/', body, headers = {}, agent = false }) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const parts = [];
      res.on('data', (chunk) => parts.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        resolve({ status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : null });
      });
      res.on('error', (error) => resolve({ error: error.code ?? error.message }));
    });
    req.on('error', (error) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

/**
 * A raw TCP connection to `port` (or a Unix socket at the path `port`): `write` sends bytes as they are,
 * `until(pattern)` waits for the server's bytes to match, `closed` resolves with everything the server sent once it
 * closes the connection.
 */
export function rawSocket(port) {
  const socket = typeof port === 'string' ? net.connect(port) : net.connect(port, '127.0.0.1');
  let text = '';
  const waiters = [];
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => {
    text += chunk;
    for (const waiter of [...waiters]) waiter();
  });
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.on('close', () => resolve(text)));
  const connected = new Promise((resolve) => socket.once('connect', resolve));
  return {
    socket,
    connected,
    closed,
    text: () => text,
    write: (data) => socket.write(data),
    destroy: () => socket.destroy(),
    /** Resolves once what the server sent matches `pattern`, or once the connection closes, with the text so far. */
    until(pattern) {
      return new Promise((resolve) => {
        const check = () => {
          if (pattern.test(text)) {
            waiters.splice(waiters.indexOf(check), 1);
            resolve(text);
          }
        };
        waiters.push(check);
        closed.then(() => resolve(text));
        check();
      });
    },
  };
}

/** The head of a POST declaring a body of `length` bytes, with extra header lines. */
export function postHead(length, extra = {}, path = '/') {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${length}`];
  for (const [name, value] of Object.entries(extra)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The port a `missive run --adapter http` child listens on, from its "listening on" log line. */
export function listeningPort(started) {
  const match = /listening on http:\/\/[^:]+:(\d+)/.exec(started.output().stderr);
  if (!match) throw new Error(`no "listening on" line yet: ${started.output().stderr}`);
  return Number(match[1]);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
