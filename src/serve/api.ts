import type { IncomingMessage } from 'node:http';
import type { LoadedProcessor } from '../processor.js';
import { InvalidOptionError } from '../errors.js';
import { looksLikeLetterKey } from '../dlq/letter-key.js';
import type { Log } from '../log.js';
import type { Access } from './access.js';
import { purgeKeys, replayKeys } from './actions.js';
import { HttpProblem, readJsonBody } from './http-io.js';
import { letterView } from './letter-view.js';
import { dialectOf, pageFilterOf, type PageFilter } from './page-filter.js';
import {
  WINDOWS,
  chartSql,
  chartStart,
  countsSql,
  keysSql,
  pageSql,
  sourcesSql,
  totalSql,
  type ChartWindow,
} from './queries.js';
import type { StoreLane } from './store-lane.js';

/** What the API needs: the file, who may do what, and the processor replays go through (if any). */
export interface ApiContext {
  readonly path: string;
  readonly lane: StoreLane;
  readonly access: Access;
  readonly processor: LoadedProcessor | undefined;
  readonly log?: Log;
}

/** Rows per page of the table, at most. */
const MAX_LIMIT = 500;
/** Keys one request may select by hand. */
const MAX_KEYS = 10_000;

/** Answers one API request with a JSON value, or throws an {@link HttpProblem} (or InvalidOptionError: 400). */
export async function handleApi(context: ApiContext, request: IncomingMessage, url: URL): Promise<unknown> {
  const route = `${request.method} ${url.pathname}`;
  switch (route) {
    case 'GET /api/config':
      needRead(context, request);
      return {
        file: context.path,
        processor: context.processor ? context.processor.processor.name : null,
        hasToken: context.access.hasToken(request),
        windows: Object.keys(WINDOWS),
      };
    case 'GET /api/view':
      needRead(context, request);
      return view(context, url.searchParams);
    case 'GET /api/letter':
      return letter(context, request, url.searchParams);
    case 'POST /api/replay':
    case 'POST /api/purge':
      return act(context, request, url.pathname === '/api/replay' ? 'replay' : 'purge');
  }
  throw new HttpProblem(
    404,
    `no ${route}; the page's API is GET /api/config, /api/view, /api/letter and POST /api/replay, /api/purge`,
  );
}

function needRead(context: ApiContext, request: IncomingMessage): void {
  if (!context.access.mayRead(request)) {
    throw new HttpProblem(
      401,
      'reading needs the token here: open the URL missive dlq serve printed (it carries the token)',
    );
  }
}

function needToken(context: ApiContext, request: IncomingMessage, what: string): void {
  if (!context.access.hasToken(request)) {
    throw new HttpProblem(
      401,
      `${what} needs the token: open the URL missive dlq serve printed (it carries the token)`,
    );
  }
}

function wholeNumber(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) > max)
    throw new InvalidOptionError(`${name} takes a whole number up to ${max}, got '${text}'`);
  return Number(text);
}

/** Everything the page shows for its filters, in one request (so one store access per refresh). */
async function view(context: ApiContext, params: URLSearchParams): Promise<unknown> {
  const filter = pageFilterOf(Object.fromEntries(params));
  const window = (params.get('window') ?? 'day') as ChartWindow;
  if (!Object.hasOwn(WINDOWS, window))
    throw new InvalidOptionError(`window takes ${Object.keys(WINDOWS).join(', ')}, got '${window}'`);
  const limit = Math.max(1, wholeNumber(params, 'limit', 50, MAX_LIMIT));
  const offset = wholeNumber(params, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const now = new Date();
  return context.lane.use(async (store) => {
    const dialect = dialectOf(store);
    const objects = async (sql: string) => {
      const result = await store.sql(sql, { builtIn: true });
      return result.rows.map((row) => Object.fromEntries(result.columns.map((column, i) => [column, row[i]])));
    };
    const [total] = await objects(totalSql(filter, dialect));
    return {
      now: now.toISOString(),
      total: (total?.['n'] as number | undefined) ?? 0,
      chart: {
        window,
        start: chartStart(window, now),
        bucket: WINDOWS[window].bucket,
        buckets: WINDOWS[window].seconds / WINDOWS[window].bucket,
        rows: await objects(chartSql(filter, window, now, dialect)),
      },
      byReason: await objects(countsSql(filter, 'reason', dialect)),
      byHandler: await objects(countsSql(filter, 'handler', dialect)),
      sources: await objects(sourcesSql()),
      page: { offset, limit, rows: await objects(pageSql(filter, limit, offset, dialect)) },
    };
  });
}

/** One letter in full; revealing a confidential one needs the token, like an action. */
async function letter(context: ApiContext, request: IncomingMessage, params: URLSearchParams): Promise<unknown> {
  needRead(context, request);
  const key = params.get('key') ?? '';
  if (!looksLikeLetterKey(key)) throw new InvalidOptionError('key takes a letter key: 32 hex digits, from the table');
  const reveal = params.get('reveal') === '1';
  if (reveal) needToken(context, request, 'revealing a confidential letter');
  const found = await context.lane.use((store) => store.get(key));
  if (!found || found.key !== key)
    throw new HttpProblem(404, `no dead letter with key ${key}: it may have been replayed or purged`);
  return letterView(found, reveal);
}

/** The keys an action is about: those given, or every letter the filter selects now. */
function selectionOf(body: Record<string, unknown>): { keys: string[] } | { filter: PageFilter } {
  if (body['keys'] !== undefined) {
    const keys = body['keys'];
    if (
      !Array.isArray(keys) ||
      keys.length === 0 ||
      keys.length > MAX_KEYS ||
      !keys.every((k) => typeof k === 'string' && looksLikeLetterKey(k))
    ) {
      throw new InvalidOptionError(`keys takes a list of 1 to ${MAX_KEYS} letter keys`);
    }
    return { keys: keys as string[] };
  }
  const filter = body['filter'];
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new InvalidOptionError('say which letters: keys (a list of letter keys) or filter (the page filters)');
  }
  return { filter: pageFilterOf(filter as Record<string, unknown>) };
}

async function act(context: ApiContext, request: IncomingMessage, action: 'replay' | 'purge'): Promise<unknown> {
  needToken(context, request, action === 'replay' ? 'replaying' : 'purging');
  const selection = selectionOf(await readJsonBody(request));
  const processor = context.processor;
  if (action === 'replay' && !processor) {
    throw new HttpProblem(
      409,
      'replaying needs the processor module: start missive dlq serve with --processor ./processor.js',
    );
  }
  return context.lane.use(async (store) => {
    const keys =
      'keys' in selection
        ? selection.keys
        : (await store.sql(keysSql(selection.filter, dialectOf(store)), { builtIn: true })).rows.map(
            (row) => row[0] as string,
          );
    if (action === 'purge') return { purged: await purgeKeys(store, keys) };
    return replayKeys(store, processor!, keys, context.log);
  }, true);
}
