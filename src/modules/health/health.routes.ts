import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { ImportStatus } from '../importer/import-queue.js';

const HealthBody = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('starting'), Type.Literal('degraded')]),
  version: Type.String(),
  uptimeSeconds: Type.Number(),
  database: Type.Object({
    reachable: Type.Boolean(),
    latencyMs: Type.Union([Type.Number(), Type.Null()]),
  }),
  dataVersion: Type.Integer(),
  import: Type.Object({
    state: Type.String(),
    filesTotal: Type.Integer(),
    filesDone: Type.Integer(),
    rowsRead: Type.Integer(),
    currentFile: Type.Union([Type.String(), Type.Null()]),
    startedAt: Type.Union([Type.String(), Type.Null()]),
    finishedAt: Type.Union([Type.String(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
  }),
});

export interface HealthDeps {
  pool: pg.Pool;
  version: string;
  importStatus: () => ImportStatus;
  dataVersion: () => number;
  isReady: () => boolean;
}

async function pingDatabase(pool: pg.Pool): Promise<number | null> {
  const started = process.hrtime.bigint();
  try {
    await pool.query('SELECT 1');
    return Number(process.hrtime.bigint() - started) / 1e6;
  } catch {
    return null;
  }
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.get(
    '/health',
    {
      config: { rateLimit: false }, // probes are never throttled
      schema: {
        tags: ['health'],
        summary: 'Status, uptime, version, database reachability and import progress',
        description:
          'Always 200 while the process serves: status "starting" until the start-up import is ' +
          'done, "degraded" when the last import failed or the database does not answer (cached ' +
          'answers are still served, so the instance stays in rotation through a failover).',
        response: { 200: HealthBody },
      },
    },
    async (_request, reply) => {
      const latencyMs = await pingDatabase(deps.pool);
      const reachable = latencyMs !== null;
      // A failed import or a database away still serves the last committed answers: 200, not ok.
      const importFailed = deps.importStatus().state === 'failed';
      const status = !reachable || importFailed ? 'degraded' : deps.isReady() ? 'ok' : 'starting';
      return reply.send({
        status,
        version: deps.version,
        uptimeSeconds: Math.round(process.uptime()),
        database: {
          reachable,
          latencyMs: latencyMs === null ? null : Number(latencyMs.toFixed(3)),
        },
        dataVersion: deps.dataVersion(),
        import: deps.importStatus(),
      });
    },
  );
}
