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
 * The dashboard at GET / (public/index.html, /assets/dashboard.{css,js}, /assets/favicon.svg) and
 * Chart.js at /assets/chart.umd.min.js: everything from the service itself, nothing from a CDN, so it
 * works offline. An encapsulated plugin: the static plugin's decorators and the page's CSP stay
 * here, while the app's hooks (request id, the other security headers) and error handlers apply.
 *
 * public/ goes through @fastify/static rather than buffers read at start: it gives ETag and
 * Last-Modified with 304s, HEAD, content types and path-traversal safety for free, and serves edits
 * to the page without a restart. `wildcard: false` registers one route per file found at start
 * (plus / for index.html) instead of a catch-all, so unknown paths keep the API's JSON 404 and the
 * routes stay out of the OpenAPI document (schemaHide, the plugin's default).
 * Chart.js lives in node_modules, outside public/; its one file (206 KB) is read once at start and
 * served from memory with an ETag.
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
