import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import multipart, { type MultipartFile } from '@fastify/multipart';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../../config.js';
import { AppError, badRequest } from '../../errors.js';
import { requireAdmin } from '../../http/admin-auth.js';
import type { ImportQueue } from './import-queue.js';
import { listImportFiles } from './data-file.js';
import { runForUpload } from './upload-ledger.js';
import { sweepUploads } from './upload-sweeper.js';
import { storeUpload, uploadName } from './uploads.js';
import { DatabaseUnavailable, ErrorBody } from '../../http/errors.js';

export interface UploadDeps {
  pool: pg.Pool;
  queue: ImportQueue;
  config: Pick<
    Config,
    'adminToken' | 'dataDir' | 'uploadDir' | 'uploadMaxBytes' | 'uploadRetentionHours'
  >;
}

const errors = (...codes: number[]): Record<number, typeof ErrorBody> =>
  Object.fromEntries(codes.map((c) => [c, ErrorBody]));
const Accepted = Type.Object({
  id: Type.Integer({ description: 'The import run: GET /imports/{id} shows its progress' }),
  status: Type.String({
    description:
      'queued or running (202: maybe the run of an identical earlier upload); done or rejected (200) when this content was imported',
  }),
  fileName: Type.String(),
});
const UploadQuery = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'File name for the ledger, like activities_20240301.csv (text/csv uploads)',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * An upload that breaks off (a truncated multipart body, a closed connection) is the client's
 * fault: 400. Errors of our own side (a full disk: ENOSPC and the like) stay server errors.
 */
function asClientError(error: unknown): never {
  const { code, statusCode } = error as { code?: string; statusCode?: number };
  if (error instanceof AppError || statusCode !== undefined) throw error;
  if (code === undefined || code === 'ERR_STREAM_PREMATURE_CLOSE')
    throw badRequest('the upload ended before it was complete');
  throw error;
}

/**
 * The file part of a multipart upload. A body busboy cannot read at all (no boundary in its
 * Content-Type) fails with a plain Error: the client's fault, 400, not a 500.
 */
async function filePart(request: FastifyRequest): Promise<MultipartFile | undefined> {
  try {
    return await request.file();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== undefined) throw error;
    throw badRequest(`the multipart body cannot be read: ${(error as Error).message}`);
  }
}

const isStream = (body: unknown): body is Readable =>
  typeof (body as Readable | undefined)?.pipe === 'function';

/** POST /imports (a CSV upload, streamed to disk) and POST /imports/rescan; both need the admin token. */
export async function uploadRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  const { pool, queue, config } = deps;
  await app.register(multipart, {
    // One byte over the limit gets through, so that storeUpload's own count refuses it (413).
    limits: { fileSize: config.uploadMaxBytes + 1, files: 1, fields: 4, parts: 5 },
  });
  // The body stays a stream: storeUpload writes it to disk without holding it in memory.
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
  app.addHook('onRequest', requireAdmin(config.adminToken));
  // UPLOAD_RETENTION_HOURS=0: an upload goes as soon as its import has finished; otherwise the
  // sweeper started by service.ts removes it once the retention has passed.
  const afterImport = async (): Promise<void> => {
    if (config.uploadRetentionHours > 0) return;
    await sweepUploads(pool, config.uploadDir, 0).catch((error: unknown) =>
      app.log.warn({ err: error }, 'sweeping stored uploads failed'),
    );
  };

  app.post(
    '/imports',
    {
      schema: {
        tags: ['imports'],
        summary: 'Upload a CSV file to import (text/csv body or multipart/form-data)',
        description:
          'Needs `Authorization: Bearer <ADMIN_TOKEN>`. Answers 202 with the run id and a ' +
          '`Location` once the file is stored; the import runs in the background. Content ' +
          'already imported under the same name answers 200 with the earlier run; content ' +
          'under that name still queued or running answers 202 with that run.',
        security: [{ bearerAuth: [] }],
        consumes: ['text/csv', 'multipart/form-data'],
        querystring: UploadQuery,
        response: {
          200: Accepted,
          202: Accepted,
          ...errors(400, 401, 403, 413, 415, 429),
          503: DatabaseUnavailable,
        },
      },
    },
    async (request, reply) => {
      let source = request.body as Readable | undefined;
      let given = (request.query as Static<typeof UploadQuery>).name;
      if (request.isMultipart()) {
        const part = await filePart(request);
        if (!part) throw badRequest('the multipart body has no file part');
        source = part.file;
        given ??= path.basename(part.filename);
      }
      if (!isStream(source))
        throw new AppError('unsupported_media_type', 415, 'send text/csv or multipart/form-data');
      const fileName = uploadName(given);
      const stored = await storeUpload(
        source,
        config.uploadDir,
        fileName,
        config.uploadMaxBytes,
      ).catch(asClientError);
      const run = await runForUpload(pool, stored);
      // The same content is imported, or on its way, under an earlier run: one run, one copy.
      if (run.created) void queue.add([stored.file]).then(afterImport);
      else await rm(path.dirname(stored.file), { recursive: true, force: true });
      const finished = run.status === 'done' || run.status === 'rejected';
      return reply
        .code(finished ? 200 : 202)
        .header('location', `/imports/${run.id}`)
        .send({ id: run.id, status: run.status, fileName });
    },
  );

  app.post(
    '/imports/rescan',
    {
      schema: {
        tags: ['imports'],
        summary: 'Import new or changed files of DATA_DIR now',
        description: 'Needs `Authorization: Bearer <ADMIN_TOKEN>`. Unchanged files are skipped.',
        security: [{ bearerAuth: [] }],
        response: {
          202: Type.Object({ files: Type.Integer({ description: 'Files queued' }) }),
          ...errors(400, 401, 403, 413, 415, 429),
        },
      },
    },
    async (_request, reply) => {
      const files = existsSync(config.dataDir) ? await listImportFiles(config.dataDir) : [];
      void queue.add(files);
      return reply.code(202).send({ files: files.length });
    },
  );
}
