import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What the limit did to make room, for the adapter's counters and log. */
export interface ConnectionLimitEvents {
  /** An idle connection (no request in progress) was closed so that a new one could be taken. */
  readonly onEvict: () => void;
  /** A new connection was closed at once: every open one had a request in progress. */
  readonly onDrop: () => void;
}

/**
 * Keeps at most `max` connections open on `server`. When a new one would pass the limit, the connection idle the
 * longest (one that has not sent a request yet, or a kept-alive one between requests) is closed to make room, so
 * sockets opened and left silent cannot lock real senders out; only when every open connection has a request in
 * progress is the new connection closed instead. Node's own `server.maxConnections` always refuses the newcomer.
 * Returns the open connections with no request in progress, kept up to date.
 */
export function limitConnections(server: Server, max: number, events: ConnectionLimitEvents): ReadonlySet<Socket> {
  /** Requests in progress (headers received, answer not yet sent) on each open connection. */
  const active = new Map<Socket, number>();
  /** Open connections with no request in progress, the one idle longest first (a Set keeps insertion order). */
  const idle = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    active.set(socket, 0);
    idle.add(socket);
    socket.once('close', () => {
      active.delete(socket);
      idle.delete(socket);
    });
    if (active.size <= max) return;
    const oldest = idle.values().next().value as Socket;
    if (oldest !== socket) {
      events.onEvict();
      oldest.destroy();
      return;
    }
    events.onDrop();
    socket.destroy();
  });

  const started = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const count = active.get(socket);
    if (count === undefined) return;
    active.set(socket, count + 1);
    idle.delete(socket);
    res.once('close', () => {
      const left = active.get(socket);
      if (left === undefined) return;
      active.set(socket, left - 1);
      // Added last: it is idle from now on, so it is the last to be closed for room.
      if (left === 1 && !socket.destroyed) idle.add(socket);
    });
  };
  server.on('request', started);
  // Requests with `Expect: 100-continue` arrive through this event instead once it has a listener.
  server.on('checkContinue', started);
  return idle;
}
