import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadedProcessor } from '../processor.js';
import { fingerprintOf } from '../dlq/fingerprint.js';
import { redactUrl } from '../dlq/postgres/postgres-url.js';
import { MissiveError, UsageError, describe } from '../errors.js';
import type { Log } from '../log.js';
import { Access, generateToken } from './access.js';
import { handleApi } from './api.js';
import { COMMON_HEADERS, HttpProblem, PAGE_POLICY, sendJson } from './http-io.js';
import { isLoopbackHost, type ServeOptions } from './options.js';
import { staticFile } from './static-files.js';
import { StoreLane } from './store-lane.js';

/** A running dead-letter page. */
export interface DlqPage {
  /** The page's address, with the token in the fragment when it was generated (browsers never send it). */
  readonly url: string;
  /** The token actions need. */
  readonly token: string;
  /** Stops listening, after the store access under way. */
  close(): Promise<void>;
}

/** Extra parts of {@link servePage}: the processor already loaded, and where replays log letters that fail again. */
export interface ServePageParts {
  readonly processor?: LoadedProcessor;
  readonly log?: Log;
}

/** Serves the page for one dead-letter file (see `missive dlq serve --help`). */
export async function servePage(options: ServeOptions, parts: ServePageParts = {}): Promise<DlqPage> {
  const token = options.token ?? generateToken();
  const loopback = isLoopbackHost(options.host);
  const access = new Access(token, loopback);
  const fingerprint = parts.processor
    ? fingerprintOf(parts.processor.processor.name, parts.processor.processor.version)
    : undefined;
  const lane = new StoreLane(options.dlq, fingerprint);
  // Shown on the page: a PostgreSQL URL without its password.
  const context = {
    path: redactUrl(options.dlq),
    lane,
    access,
    processor: parts.processor,
    ...(parts.log ? { log: parts.log } : {}),
  };

  const server = createServer((request, response) => {
    void answer(request, response).catch((error: unknown) => fail(response, error));
  });
  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://page.invalid');
    if (url.pathname.startsWith('/api/')) {
      sendJson(response, 200, await handleApi(context, request, url));
      return;
    }
    // Browsers ask for it unprompted; there is none, and a 404 would show as an error in their console.
    if (url.pathname === '/favicon.ico') {
      response.writeHead(204, COMMON_HEADERS).end();
      return;
    }
    const file = request.method === 'GET' || request.method === 'HEAD' ? await staticFile(url.pathname) : undefined;
    if (!file) throw new HttpProblem(404, `nothing at ${url.pathname}; the page is at /`);
    response.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': file.type,
      'content-length': String(file.body.length),
      'content-security-policy': PAGE_POLICY,
    });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new UsageError(
              `port ${options.port} on ${options.host} is taken: choose another with --port (0 picks a free one)`,
            )
          : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
            ? new UsageError(`cannot listen on ${options.host}: give an address of this machine with --host`)
            : error,
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]` : options.host;
  const base = `http://${host}:${port}/`;
  return {
    url: options.token === undefined ? `${base}#token=${token}` : base,
    token,
    close: () => closeServer(server, lane),
  };
}

async function closeServer(server: Server, lane: StoreLane): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await lane.idle();
}

function fail(response: ServerResponse, error: unknown): void {
  const status =
    error instanceof HttpProblem
      ? error.status
      : error instanceof MissiveError && isRequestError(error)
        ? 400
        : error instanceof MissiveError
          ? 503
          : 500;
  if (status >= 500) process.stderr.write(`missive: dlq serve: ${describe(error)}\n`);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendJson(response, status, { error: error instanceof Error ? error.message : String(error) });
}

/** Errors about what the request asked (a bad filter, a query the sandbox refused) rather than about the store. */
function isRequestError(error: MissiveError): boolean {
  return error.code === 'MISSIVE_ERR_INVALID_OPTION' || error.code === 'MISSIVE_ERR_USAGE';
}
