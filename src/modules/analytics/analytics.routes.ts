import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, notFound } from '../../errors.js';
import { ErrorBody, sendError } from '../../http/errors.js';
import { cacheKey, type AnswerCache, type QueryName } from './analytics.cache.js';
import { parseMonth } from './analytics.definitions.js';
import { ALL_MONTHS } from './analytics.repository.js';

const MONTH_PATTERN = '^[0-9]{4}-(0[1-9]|1[0-2])$';
const rangeProperties = {
  from: Type.Optional(
    Type.String({
      pattern: MONTH_PATTERN,
      description: 'First month, inclusive (UTC)',
      examples: ['2024-03'],
    }),
  ),
  to: Type.Optional(
    Type.String({
      pattern: MONTH_PATTERN,
      description: 'Last month, inclusive (UTC)',
      examples: ['2024-06'],
    }),
  ),
};
const RangeQuery = Type.Object(rangeProperties, { additionalProperties: false });
const LeaderboardQuery = Type.Object(
  {
    ...rangeProperties,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, examples: [10] })),
  },
  { additionalProperties: false },
);
type RangeQueryT = Static<typeof RangeQuery> & { limit?: number };

const Money = Type.Number({ description: 'NGN with exactly two decimals, e.g. 98765432.10' });
const TopMerchant = Type.Object({
  merchant_id: Type.String({ examples: ['MRC-001234'] }),
  total_volume: Money,
});

const errorResponses = {
  400: { description: 'A parameter is invalid', ...ErrorBody },
  503: {
    description:
      'The start-up import has not finished, or (code database_unavailable) an answer not cached yet needs the database while it is away; retry after Retry-After seconds',
    ...ErrorBody,
  },
};

interface Endpoint {
  name: QueryName;
  summary: string;
  description: string;
  response: object;
}

const ENDPOINTS: Endpoint[] = [
  {
    name: 'top-merchant',
    summary: 'The merchant with the highest SUCCESS volume',
    description:
      'Sum of `amount` over SUCCESS events, all products. Ties: smallest merchant_id. 404 when there is no SUCCESS event.',
    response: TopMerchant,
  },
  {
    name: 'top-merchants',
    summary: 'Leaderboard of merchants by SUCCESS volume',
    description:
      'The top `limit` merchants (at most 100), same definition and tie-break as top-merchant.',
    response: Type.Array(
      Type.Object({ rank: Type.Integer(), merchant_id: Type.String(), total_volume: Money }),
    ),
  },
  {
    name: 'monthly-active-merchants',
    summary: 'Distinct merchants with a SUCCESS event, per UTC month',
    description: 'Keys `YYYY-MM` ascending; months without SUCCESS events are absent.',
    response: Type.Record(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}$' }), Type.Integer(), {
      examples: [{ '2024-01': 812 }],
    }),
  },
  {
    name: 'product-adoption',
    summary: 'Distinct merchants per product, any status',
    description:
      'Highest count first, ties by product name ascending; products without events are absent.',
    response: Type.Record(Type.String(), Type.Integer(), {
      examples: [{ POS: 900, AIRTIME: 850 }],
    }),
  },
  {
    name: 'kyc-funnel',
    summary: 'Distinct merchants per KYC stage (SUCCESS events of product KYC)',
    description: 'Each stage counted on its own, not cumulative. All three keys always present.',
    response: Type.Object({
      documents_submitted: Type.Integer(),
      verifications_completed: Type.Integer(),
      tier_upgrades: Type.Integer(),
    }),
  },
  {
    name: 'failure-rates',
    summary: 'FAILED / (SUCCESS + FAILED) × 100 per product',
    description:
      'One decimal, half-up. PENDING excluded; products with no SUCCESS or FAILED event absent. Sorted by the unrounded rate descending, ties by product name.',
    response: Type.Array(
      Type.Object({ product: Type.String(), failure_rate: Type.Number({ examples: [5.1] }) }),
    ),
  },
];

export const ANALYTICS_CACHE_CONTROL = 'public, max-age=0, must-revalidate';

function rangeOf(query: RangeQueryT): { from: number; to: number } {
  const from = query.from === undefined ? ALL_MONTHS.from : (parseMonth(query.from) as number);
  const to = query.to === undefined ? ALL_MONTHS.to : (parseMonth(query.to) as number);
  if (from > to) throw badRequest("querystring parameter 'from' must not be after 'to'");
  return { from, to };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header === '*' || header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export interface AnalyticsDeps {
  cache: AnswerCache;
  isReady: () => boolean;
}

/** The six answers, from the cache; 503 with Retry-After until the start-up import is done. */
export async function analyticsRoutes(app: FastifyInstance, deps: AnalyticsDeps): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    if (deps.isReady()) return;
    reply.header('retry-after', '5');
    const message = 'the start-up import is still running; retry shortly';
    return sendError(reply, request, 503, 'not_ready', message);
  });
  for (const endpoint of ENDPOINTS) {
    const querystring = endpoint.name === 'top-merchants' ? LeaderboardQuery : RangeQuery;
    app.get(
      `/analytics/${endpoint.name}`,
      {
        schema: {
          tags: ['analytics'],
          summary: endpoint.summary,
          description: endpoint.description,
          querystring,
          response: {
            200: endpoint.response,
            304: { description: 'Not modified (If-None-Match matched the ETag)', type: 'null' },
            ...(endpoint.name === 'top-merchant'
              ? { 404: { description: 'No SUCCESS event at all', ...ErrorBody } }
              : {}),
            ...errorResponses,
          },
        },
      },
      async (request: FastifyRequest<{ Querystring: RangeQueryT }>, reply: FastifyReply) => {
        const args = { range: rangeOf(request.query), limit: request.query.limit ?? 10 };
        const key = cacheKey(endpoint.name, args);
        const answer = deps.cache.peek(key) ?? (await deps.cache.get(endpoint.name, args));
        if (!answer.found) throw notFound('there is no SUCCESS event, so no top merchant');
        reply.header('etag', answer.etag).header('cache-control', ANALYTICS_CACHE_CONTROL);
        if (etagMatches(request.headers['if-none-match'], answer.etag))
          return reply.code(304).send();
        return reply.type('application/json; charset=utf-8').send(answer.body);
      },
    );
  }
}
