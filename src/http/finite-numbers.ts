import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { badRequest } from '../errors.js';

interface ObjectSchema {
  properties?: Record<string, { type?: unknown }>;
}

const hasNumbers = (schema: unknown): boolean =>
  Object.values((schema as ObjectSchema | undefined)?.properties ?? {}).some(
    (p) => p.type === 'integer' || p.type === 'number',
  );

/**
 * ajv, coercing types, turns "Infinity" or "1e309" into an "integer" and then skips minimum and
 * maximum for it (they only judge finite numbers), so such a value would reach SQL. Routes with a
 * numeric query or path parameter therefore refuse non-finite numbers once they are validated;
 * the others (most analytics answers) get no extra hook.
 */
export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { querystring?: unknown; params?: unknown } | undefined;
    if (!hasNumbers(schema?.querystring) && !hasNumbers(schema?.params)) return;
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
