import {
  createServer,
  IncomingMessage,
  ServerResponse,
  validateHeaderName,
  validateHeaderValue,
  type Server,
} from 'node:http';
import { Socket } from 'node:net';
import type { FastifyServerOptions } from 'fastify';
import { requestIdFor } from '../../http/hooks.js';
import { ipv4ClientKey, type ClientLimiter } from '../../http/rate-limit.js';
import type { ServiceMetrics } from '../metrics/metrics.js';
import type { Answer, AnswerCache } from './analytics.cache.js';

/** A 200 answer as Fastify sent it for one URL, replayable while its answer is the current one. */
interface Replay {
  key: string;
  answer: Answer;
  /** the request latency histogram of the route, for status 200 */
  observe: (seconds: number) => void;
  /** `name: value\r\n` for everything Fastify sent but the per-request headers */
  head: string;
  /** ['content-length', bytes]: the one header handed to writeHead */
  contentLength: string[];
}

/** node:http's response head as it stands between writeHead and the first write. */
interface HeadInProgress {
  _header: string;
}

/** node:http starts every 200 head with this line, whatever the request's HTTP version. */
const STATUS_LINE = 'HTTP/1.1 200 OK\r\n';

/**
 * Whether node:http keeps the head it is about to send as a string in `_header`, from the
 * status line to the blank line, between writeHead and the first write: the lane inserts its
 * lines after the status line there. `_header` is internal (checked on Node 20); should another
 * Node keep heads otherwise, the lane learns nothing and Fastify answers every request.
 */
function headSpliceWorks(): boolean {
  const response = new ServerResponse(new IncomingMessage(new Socket()));
  response.writeHead(200, ['content-length', '0']);
  const head = (response as unknown as Partial<HeadInProgress>)._header;
  return typeof head === 'string' && head.startsWith(STATUS_LINE) && head.endsWith('\r\n\r\n');
}
const HEAD_SPLICE_WORKS = headSpliceWorks();

/** Set per request (request id, time), by node:http itself, or by the lane (content-length). */
const PER_REQUEST = new Set([
  'x-request-id',
  'x-process-time',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
]);
/** URLs remembered at most: query strings vary, memory must not. */
const MAX_REPLAYS = 1000;

export interface FastLaneDeps {
  cache: AnswerCache;
  metrics: ServiceMetrics;
  isReady: () => boolean;
}

/**
 * Repeat GETs of cached analytics answers, answered by node:http before Fastify sees them.
 *
 * Why: measured with bench:http on this machine, a bare node:http server answers ~57k req/s,
 * Fastify with one route and nothing else ~44k (0.77×), and the service's routes with their hooks
 * ~0.5×, against the 0.8× the cached answers are held to. Fastify is the bottleneck here, so the
 * lane replays what Fastify itself answered for the same URL (status, headers, body: the same
 * bytes) for as long as the cache holds that very answer, after the same rate limit, with a fresh
 * request id and time, and observed by the same metrics.
 *
 * The lane writes the fixed header lines itself, not through writeHead (see headLines). node:http
 * still writes the status line, Content-Length, Date, Connection and Keep-Alive, so whether the
 * connection stays open (HTTP/1.0, Connection: close, maxRequestsPerSocket, a closing server)
 * stays its call.
 *
 * Anything else goes to Fastify: other methods, a first request for a URL, an answer of another
 * version, an Origin (CORS) or If-None-Match header, an X-Request-Id sent twice, an IPv6 client
 * (its rate-limit key is its subnet), a client over the limit, debug logging (one line per
 * request), a closing server.
 */
export class AnswerFastLane {
  private readonly replays = new Map<string, Replay>();
  private limiter: ClientLimiter | null = null;
  private open = false;

  constructor(private readonly deps: FastLaneDeps) {}

  /** Serves from now on, counting requests with the routes' own limiter (null: no limit). */
  start(limiter: ClientLimiter | null): void {
    this.limiter = limiter;
    this.open = true;
  }

  stop(): void {
    this.open = false;
    this.replays.clear();
  }

  /**
   * Remembers a 200 answer Fastify is sending, with its headers as Fastify set them; nothing when
   * a header would not pass node:http's checks (it is Fastify's to refuse) or node:http does not
   * keep heads the way headSpliceWorks checks (every request then goes to Fastify).
   */
  learn(
    request: IncomingMessage,
    route: string,
    key: string,
    answer: Answer,
    headers: Record<string, string | number | string[] | undefined>,
  ): void {
    if (!this.open || !HEAD_SPLICE_WORKS || replayableRequestId(request.rawHeaders) === null)
      return;
    const url = request.url as string;
    if (!this.replays.has(url) && this.replays.size >= MAX_REPLAYS) return;
    const head = headLines(headers);
    if (head === null) return;
    const contentLength = ['content-length', String(answer.body.length)];
    const observe = this.deps.metrics.requestObserver('GET', route, 200);
    this.replays.set(url, { key, answer, observe, head, contentLength });
  }

  /** Answers the request if it is a replay; false leaves it to Fastify. */
  serve(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.open || request.method !== 'GET') return false;
    const url = request.url as string;
    const replay = this.replays.get(url);
    if (replay === undefined) return false;
    if (this.deps.cache.peek(replay.key) !== replay.answer || !this.deps.isReady()) {
      this.replays.delete(url);
      return false;
    }
    const givenId = replayableRequestId(request.rawHeaders);
    if (givenId === null) return false;
    const started = performance.now();
    const client = ipv4ClientKey(request.socket.remoteAddress);
    if (client === null || (this.limiter !== null && !this.limiter.allow(client))) return false;
    const requestId = requestIdFor(givenId);
    const elapsed = performance.now() - started;
    response.writeHead(200, replay.contentLength);
    const inProgress = response as unknown as HeadInProgress;
    const written = inProgress._header.slice(STATUS_LINE.length);
    const perRequest = `x-request-id: ${requestId}\r\nx-process-time: ${elapsed.toFixed(3)}ms\r\n`;
    inProgress._header = `${STATUS_LINE}${replay.head}${perRequest}${written}`;
    response.end(replay.answer.body);
    replay.observe(elapsed / 1000);
    return true;
  }
}

/**
 * The head's lines for these headers, checked as writeHead would check them; null if one fails.
 *
 * Why the lane writes them itself: measured with bench/http-instructions.sh, writeHead spends
 * ~1.8 k instructions a header (two regular-expression checks, lower-casing, concatenation), so
 * the service's ten fixed headers cost ~18 k a response, against ~62 k for a whole bare
 * node:http response. These lines are checked once here; a response only adds the request id
 * (a generated id, or a caller's that passed requestIdFor's pattern) and a number. A bare server
 * sending all the service's headers this way measured 66 k instructions, against 82 k through
 * writeHead.
 */
function headLines(headers: Record<string, string | number | string[] | undefined>): string | null {
  let lines = '';
  try {
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || PER_REQUEST.has(name)) continue;
      for (const one of Array.isArray(value) ? value : [String(value)]) {
        validateHeaderName(name);
        validateHeaderValue(name, one);
        lines += `${name}: ${one}\r\n`;
      }
    }
  } catch {
    return null;
  }
  return lines;
}

/**
 * The caller's X-Request-Id (undefined: none) of a request the lane may answer, read off the raw
 * header list; null when the answer depends on more than the URL (Origin: CORS; If-None-Match:
 * 304) or the id is sent twice (Fastify's joined value is what the routes would judge).
 * Why not request.headers: node:http builds that object on first use, for every header sent,
 * while the raw list is already there and the lane needs only these three names.
 */
function replayableRequestId(raw: string[]): string | undefined | null {
  let id: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // only the lengths of the three names are lower-cased and compared
    if (name.length !== 6 && name.length !== 12 && name.length !== 13) continue;
    const lower = name.toLowerCase();
    if (lower === 'origin' || lower === 'if-none-match') return null;
    if (lower === 'x-request-id') {
      if (id !== undefined) return null;
      id = raw[i + 1] as string;
    }
  }
  return id;
}

/**
 * The HTTP server Fastify would make (its timeouts included), with the lane in front of Fastify's
 * handler: Fastify's serverFactory.
 */
export function serverWithFastLane(
  lane: AnswerFastLane,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  options: FastifyServerOptions,
): Server {
  const server = createServer((request, response) => {
    if (!lane.serve(request, response)) handler(request, response);
  });
  server.keepAliveTimeout = options.keepAliveTimeout as number;
  server.requestTimeout = options.requestTimeout as number;
  server.setTimeout(options.connectionTimeout);
  if ((options.maxRequestsPerSocket ?? 0) > 0)
    server.maxRequestsPerSocket = options.maxRequestsPerSocket as number;
  return server;
}
