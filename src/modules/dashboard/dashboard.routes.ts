import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_CSP, pageHeaders } from '../../http/security.js';

/** public/ at the repository root: the same from src/modules/dashboard and dist/modules/dashboard. */
const PUBLIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url));

/**
 * Chart.js's browser bundle, found through the package's own entry point: its `exports` map does
 * not export dist/*, so resolve the main entry and take its sibling.
 */
function chartBundlePath(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return path.join(path.dirname(main), 'chart.umd.min.js');
}

/**
 * The dashboard at GET / and its assets, all served by the service itself so it works offline.
 * @fastify/static gives ETag/304, HEAD and path-traversal safety; `wildcard: false` makes one
 * route per file, so unknown paths keep the API's JSON 404. Chart.js (node_modules, outside
 * public/) is read once and served from memory with an ETag.
 */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  pageHeaders(app, DASHBOARD_CSP);
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/',
    wildcard: false,
    index: 'index.html',
    decorateReply: false,
    schemaHide: true,
  });

  const chart = readFileSync(chartBundlePath());
  const etag = `"${createHash('sha1').update(chart).digest('base64url').slice(0, 20)}"`;
  app.get('/assets/chart.umd.min.js', { schema: { hide: true } }, async (request, reply) => {
    reply
      .type('application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=0, must-revalidate')
      .header('etag', etag);
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.send(chart);
  });
}
