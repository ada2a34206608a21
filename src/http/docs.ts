import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { DOCS_CSP, pageHeaders } from './security.js';

const require = createRequire(import.meta.url);

/** The OpenAPI document, on the root: registered before the routes, it sees every one of them. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Merchant activity analytics',
        version,
        description:
          'Imports merchant activity CSV files into PostgreSQL and answers growth questions from rollups ' +
          'kept in step with the facts. Money has exactly two decimals, rates exactly one (half-up). ' +
          'Errors are `{"error":{"code","message","requestId"}}`.',
      },
      tags: [
        { name: 'analytics', description: 'The five figures and the leaderboard' },
        { name: 'imports', description: 'The import ledger and rejected rows' },
        { name: 'health', description: 'Liveness, import progress and metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'ADMIN_TOKEN; write endpoints are off when it is unset',
          },
        },
      },
    },
  });
}

/** Swagger UI at /docs, ReDoc at /redoc and the document at /openapi.json, with their own CSP. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  pageHeaders(app, DOCS_CSP);
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const redocBundle = require.resolve('redoc/bundles/redoc.standalone.js');
  let redocScript: Buffer | undefined;
  app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_request, reply) => {
    redocScript ??= await readFile(redocBundle);
    return reply
      .type('application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(redocScript);
  });
  app.get('/redoc', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Merchant activity analytics · ReDoc</title>' +
          '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>' +
          '<redoc spec-url="/openapi.json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>',
      ),
  );
}
