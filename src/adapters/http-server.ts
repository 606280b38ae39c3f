import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { limitConnections, type ConnectionLimitEvents } from './http-connection-limit.js';
import type { HttpLimits } from './http-options.js';

/**
 * An HTTP server whose connections cannot be held open for nothing: headers must arrive within
 * `headersTimeoutMs` (which also closes a connection that never sends a request line, with 408), an idle
 * kept-alive connection closes after `idleTimeoutMs`, and at most `maxConnections` are open (see
 * `limitConnections`). Bodies are bounded by the request handler (see `readBody`); Node's own
 * request timeout is only a backstop behind it.
 */
export function createBoundedServer(
  limits: HttpLimits,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  events: ConnectionLimitEvents,
): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Past the handler's own body timeout, so a body that stalls gets its 408 from the handler, which also gives
      // its bytes back; Node requires this to be at least headersTimeout.
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + 1000,
      keepAliveTimeout: limits.idleTimeoutMs,
      // Node checks both timeouts above on this interval (30 s by default), which would let a silent connection
      // live well past its timeout: a quarter of the headers timeout, at most a second, keeps it close.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    onRequest,
  );
  // Without a listener Node answers `Expect: 100-continue` itself, inviting the body before the handler could
  // refuse it; the handler sends the 100 once it has decided to read the body.
  server.on('checkContinue', onRequest);
  closeHeadlessOnStop(server, limitConnections(server, limits.maxConnections, events), limits.headersTimeoutMs);
  return server;
}

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

/**
 * Node's closeIdleConnections, which server.close() calls, passes over connections whose request head has not
 * arrived: it counts them busy until their headers timeout, and close() stops the timer that enforces that
 * timeout, so during a drain they stayed open for as long as it lasted. A stopping server closes them itself: one
 * that never sent a byte at once (it could only get a 503), one with part of a head after `headersTimeoutMs`
 * unless its head completes first (then it gets its 503).
 */
function closeHeadlessOnStop(server: Server, idle: ReadonlySet<Socket>, headersTimeoutMs: number): void {
  const closeNodeIdle = server.closeIdleConnections.bind(server);
  const waiting = new WeakSet<Socket>();
  server.closeIdleConnections = () => {
    closeNodeIdle();
    for (const socket of idle) {
      if (socket.destroyed || waiting.has(socket)) continue;
      if (socket.bytesRead === 0) {
        socket.destroy();
        continue;
      }
      waiting.add(socket);
      setTimeout(() => {
        if (!idle.has(socket) || socket.destroyed) return;
        socket.write(REQUEST_TIMEOUT);
        socket.destroySoon();
      }, headersTimeoutMs).unref();
    }
  };
}
