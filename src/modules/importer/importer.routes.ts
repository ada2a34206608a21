import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { notFound } from '../../errors.js';
import { REJECT_REASONS } from './row-rules.js';
import { findRun, listRejects, listRuns, type RunRecord } from './importer.repository.js';
import { DatabaseUnavailable, ErrorBody } from '../../http/errors.js';

const Counts = Type.Record(Type.String(), Type.Integer());
const Run = Type.Object({
  id: Type.Integer(),
  fileName: Type.String(),
  fileSize: Type.Integer(),
  fileHash: Type.String({ description: 'SHA-256 of the file content' }),
  status: Type.Union(
    ['queued', 'running', 'done', 'failed', 'rejected', 'changed'].map((s) => Type.Literal(s)),
    {
      description:
        'changed: the file changed while it was imported; its committed rows stay and the file ' +
        'is imported again once stable (see message)',
    },
  ),
  rowsRead: Type.Integer({ description: 'rows read = inserted + duplicates + rejected + pending' }),
  rowsInserted: Type.Integer(),
  rowsDuplicate: Type.Integer(),
  rowsRejected: Type.Integer(),
  rowsPending: Type.Integer({
    description:
      'Rows of a bulk load not yet told apart as inserted or duplicate: settled (0) when the load ends',
  }),
  rejectsByReason: Counts,
  warningsByKind: Counts,
  bytesCommitted: Type.Integer({ description: 'How far committed batches got into the file' }),
  progress: Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'Share of the file committed: bytesCommitted / fileSize (1 when finished)',
  }),
  message: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) });
const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  },
  { additionalProperties: false },
);
const RejectsQuery = Type.Object(
  {
    reason: Type.Optional(Type.Union(REJECT_REASONS.map((r) => Type.Literal(r)))),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    after: Type.Integer({
      minimum: 0,
      // Lines are bigint in the database; past this a number is no longer exact here (and a
      // larger one made PostgreSQL fail with "bigint out of range": a 500).
      maximum: Number.MAX_SAFE_INTEGER,
      default: 0,
      description: 'Return rejects after this line (keyset pagination)',
    }),
  },
  { additionalProperties: false },
);

function runProgress(run: RunRecord): number {
  if (run.status === 'done' || run.status === 'rejected' || run.fileSize === 0) return 1;
  return Math.min(1, run.bytesCommitted / run.fileSize);
}

function publicRun(run: RunRecord): Static<typeof Run> {
  return {
    id: run.id,
    fileName: run.fileName,
    fileSize: run.fileSize,
    fileHash: run.fileHash,
    status: run.status,
    rowsRead: run.rowsRead,
    rowsInserted: run.rowsInserted,
    rowsDuplicate: run.rowsDuplicate,
    rowsRejected: run.rowsRejected,
    rowsPending: run.rowsPending,
    rejectsByReason: run.rejectsByReason,
    warningsByKind: run.warningsByKind,
    bytesCommitted: run.bytesCommitted,
    progress: runProgress(run),
    message: run.message,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

/** The import ledger: runs and their rejected rows. */
export async function importRoutes(
  app: FastifyInstance,
  { pool }: { pool: pg.Pool },
): Promise<void> {
  app.get(
    '/imports',
    {
      schema: {
        tags: ['imports'],
        summary: 'The import ledger, newest run first',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            items: Type.Array(Run),
            limit: Type.Integer(),
            offset: Type.Integer(),
          }),
          400: ErrorBody,
          503: DatabaseUnavailable,
        },
      },
    },
    async (request) => {
      const { limit, offset } = request.query as Static<typeof ListQuery>;
      const runs = await listRuns(pool, limit, offset);
      return { items: runs.map(publicRun), limit, offset };
    },
  );

  app.get(
    '/imports/:id',
    {
      schema: {
        tags: ['imports'],
        summary: 'One import run',
        params: IdParams,
        response: { 200: Run, 400: ErrorBody, 404: ErrorBody, 503: DatabaseUnavailable },
      },
    },
    async (request) => {
      const { id } = request.params as Static<typeof IdParams>;
      const run = await findRun(pool, id);
      if (!run) throw notFound(`no import run ${id}`);
      return publicRun(run);
    },
  );

  app.get(
    '/imports/:id/rejects',
    {
      schema: {
        tags: ['imports'],
        summary: 'Rejected rows of one run with their line, reason and raw text (cut at 1 KiB)',
        params: IdParams,
        querystring: RejectsQuery,
        response: {
          200: Type.Object({
            runId: Type.Integer(),
            reasonCounts: Counts,
            items: Type.Array(
              Type.Object({ line: Type.Integer(), reason: Type.String(), raw: Type.String() }),
            ),
            nextAfter: Type.Union([Type.Integer(), Type.Null()], {
              description: 'Pass as `after` for the next page',
            }),
          }),
          400: ErrorBody,
          404: ErrorBody,
          503: DatabaseUnavailable,
        },
      },
    },
    async (request) => {
      const { id } = request.params as Static<typeof IdParams>;
      const { reason, limit, after } = request.query as Static<typeof RejectsQuery>;
      const run = await findRun(pool, id);
      if (!run) throw notFound(`no import run ${id}`);
      const items = await listRejects(pool, id, reason, limit, after);
      const last = items[items.length - 1];
      return {
        runId: id,
        reasonCounts: run.rejectsByReason,
        items,
        nextAfter: items.length === limit && last ? last.line : null,
      };
    },
  );
}
