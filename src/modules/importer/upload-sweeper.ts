import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { FILE_PATTERN } from './data-file.js';

/** How often stored uploads are looked at, besides at start and after each upload's import. */
const SWEEP_EVERY_MS = 10 * 60_000;
/** A folder with no complete upload (a crash while one was stored) untouched this long is debris. */
const PARTIAL_MAX_AGE_MS = 24 * 3_600_000;

/**
 * True when the ledger has a run that finished (done or rejected) more than `retentionHours` ago
 * for exactly this file: the same name, size and modification time, the identity by which the
 * importer itself skips a file as unchanged. A run still queued or running for it keeps it.
 */
async function finishedLongAgo(
  pool: pg.Pool,
  file: string,
  retentionHours: number,
): Promise<boolean> {
  const info = await stat(file);
  const result = await pool.query<{ finished: boolean }>(
    `SELECT bool_or(status IN ('done', 'rejected') AND finished_at <= now() - make_interval(hours => $4))
              AND NOT bool_or(status IN ('queued', 'running')) AS finished
     FROM import_runs WHERE file_name = $1 AND file_size = $2 AND file_mtime = $3`,
    [path.basename(file), info.size, info.mtime, retentionHours],
  );
  return result.rows[0]?.finished === true;
}

/** A folder left with only a `.part` file, or nothing, by an upload cut off by a crash. */
async function isStalePartial(folder: string, now: number): Promise<boolean> {
  const entries = await readdir(folder);
  const times = await Promise.all(
    [folder, ...entries.map((e) => path.join(folder, e))].map(async (p) => (await stat(p)).mtimeMs),
  );
  return now - Math.max(...times) > PARTIAL_MAX_AGE_MS;
}

/** Whether one upload folder (`<uploadDir>/<uuid>/<name>`) may go. */
async function removable(pool: pg.Pool, folder: string, retentionHours: number): Promise<boolean> {
  const files = (await readdir(folder)).filter((name) => FILE_PATTERN.test(name));
  if (files.length === 0) return isStalePartial(folder, Date.now());
  for (const name of files)
    if (!(await finishedLongAgo(pool, path.join(folder, name), retentionHours))) return false;
  return true;
}

/** A folder may vanish meanwhile (another process's sweep got there first): not ours to remove. */
function unlessGone(error: unknown): false {
  if ((error as { code?: string }).code === 'ENOENT') return false;
  throw error;
}

/**
 * Removes the stored uploads whose import finished more than `retentionHours` ago (0: as soon
 * as it has finished). An upload whose run failed stays: the next start resumes it. Returns the
 * folders removed.
 */
export async function sweepUploads(
  pool: pg.Pool,
  uploadDir: string,
  retentionHours: number,
): Promise<string[]> {
  if (!existsSync(uploadDir)) return [];
  const removed: string[] = [];
  for (const entry of await readdir(uploadDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const folder = path.join(uploadDir, entry.name);
    if (!(await removable(pool, folder, retentionHours).catch(unlessGone))) continue;
    await rm(folder, { recursive: true, force: true });
    removed.push(entry.name);
  }
  return removed;
}

/**
 * Sweeps `uploadDir` now and every ten minutes (one sweep at a time); failures are logged. Returns
 * the function that stops it.
 */
export function startUploadSweeper(
  pool: pg.Pool,
  config: { uploadDir: string; uploadRetentionHours: number },
  log: FastifyBaseLogger,
): () => Promise<void> {
  let running: Promise<void> | null = null;
  const sweep = (): void => {
    running ??= sweepUploads(pool, config.uploadDir, config.uploadRetentionHours)
      .then((removed) => {
        if (removed.length > 0) log.info({ folders: removed }, 'removed finished stored uploads');
      })
      .catch((error: unknown) => log.warn({ err: error }, 'sweeping stored uploads failed'))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();
  sweep();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
