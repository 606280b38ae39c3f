import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { UsageError, describe } from '../errors.js';

/** Serves `GET /metrics` in Prometheus text format; everything else is 404. Resolves once listening. */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? `${host}:${port} is already in use; choose another --metrics-port (0 picks a free one)`
          : error.code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine; fix --metrics-host`
            : error.code === 'EACCES'
              ? `listening on port ${port} is not allowed; use a port above 1023`
              : describe(error);
      reject(new UsageError(`cannot serve metrics: ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const address = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/metrics` };
}
