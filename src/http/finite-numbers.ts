import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { badRequest } from '../errors.js';

/**
 * ajv, coercing types, turns "Infinity" or "1e309" into an "integer" and then skips minimum and
 * maximum for it (they only judge finite numbers), so such a value would reach SQL. Every route
 * with query or path parameters therefore refuses non-finite numbers once they are validated.
 */
export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { querystring?: unknown; params?: unknown } | undefined;
    if (!schema?.querystring && !schema?.params) return;
    const existing = route.preHandler;
    const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
    route.preHandler = [checkFinite as preHandlerHookHandler, ...hooks];
  });
}

async function checkFinite(request: FastifyRequest): Promise<void> {
  for (const [where, values] of [
    ['querystring', request.query],
    ['path', request.params],
  ] as const) {
    for (const [name, value] of Object.entries((values ?? {}) as Record<string, unknown>)) {
      if (typeof value === 'number' && !Number.isFinite(value))
        throw badRequest(`${where} parameter '${name}' must be a finite number`);
    }
  }
}
