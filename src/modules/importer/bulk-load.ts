import path from 'node:path';
import type pg from 'pg';
import type { BulkLoadMode } from '../../config.js';
import { BatchRows, RollupDeltaBuilder } from './batch-rollups.js';
import { countWarnings, findUnchangedRun, ZERO_COUNTS } from './import-state.js';
import type { ImportOptions } from './import-types.js';
import * as repo from './importer.repository.js';
import { PRODUCT_KYC } from './row-rules.js';
import type { UuidBloom } from './uuid-set.js';
import type { MonthPartitions } from './month-partitions.js';
import { statOrNull } from './data-file.js';
import { IdRegistry } from './id-registry.js';

/**
 * Bulk loads: the ids of the rows copied are staged, unkeyed; at the end they become the id
 * registry's next generation, keyed in one sort, and the rows whose id may already be stored are
 * settled (the Importer decides per row which those are).
 */

type RunCounts = repo.RunCounts;

/**
 * Bulk loads (see Importer): chosen when the files to import hold at least this many bytes and
 * the stored facts are at most BULK_MAX_STORED_RATIO times their rows. Below that, keeping the
 * key batch by batch costs less than one pass over the whole registry's index.
 */
const BULK_MIN_BYTES = 64 << 20;
const BULK_MAX_STORED_RATIO = 4;
const CSV_BYTES_PER_ROW = 120;
/**
 * A bulk load when an earlier one was interrupted (ids staged or rows pending), when asked, or, in
 * auto mode, when the files to import are large next to the stored facts.
 */
export async function shouldBulkLoad(
  client: pg.Client,
  pool: pg.Pool,
  files: string[],
  sizes: number[],
  mode: BulkLoadMode = 'auto',
): Promise<boolean> {
  if (await repo.bulkLoadUnfinished(client)) return true;
  if (mode !== 'auto') return mode === 'always';
  let incomingBytes = 0;
  for (const [i, file] of files.entries()) {
    const runs = await repo.runsForFile(pool, path.basename(file));
    const info = await statOrNull(file);
    if (info && !findUnchangedRun(runs, info)) incomingBytes += sizes[i] as number;
  }
  if (incomingBytes < BULK_MIN_BYTES) return false;
  const storedRows = await IdRegistry.estimatedIds(client);
  return storedRows <= (incomingBytes / CSV_BYTES_PER_ROW) * BULK_MAX_STORED_RATIO;
}

/** About how many ids a bulk load's filter will hold: those stored and those of the files. */
export async function expectedIds(client: pg.Client, sizes: number[]): Promise<number> {
  const incomingBytes = sizes.reduce((a, b) => a + b, 0);
  return (await IdRegistry.estimatedIds(client)) + incomingBytes / CSV_BYTES_PER_ROW;
}

/**
 * Teaches the filter every stored, staged and pending id, so that a row it has never seen is
 * certainly new and its id can be staged without a key to check it.
 */
export async function startBulkLoad(client: pg.Client, staged: UuidBloom): Promise<void> {
  await repo.forEachKnownId(client, (bytes, offset) => staged.add(bytes, offset));
}

/**
 * Ends a bulk load in one transaction: the staged ids become the registry's next generation, then
 * the pending rows are settled in arrival order (the first occurrence of an id not stored is
 * inserted, with its rollups and warnings; the others are duplicates) and their ledger counts
 * moved. Interrupted, it rolls back whole, and the next import finishes it. Returns each run's
 * change.
 */
export async function settleBulkLoad(
  client: pg.Client,
  registry: IdRegistry,
  partitions: MonthPartitions,
  pageRows: number,
  checkpoint?: ImportOptions['checkpoint'],
): Promise<Map<number, RunCounts>> {
  await registry.prepareToSeal(client);
  await client.query('BEGIN');
  await registry.adoptStaged(client);
  await repo.collectSettledRows(client);
  const changes = new Map<number, RunCounts>();
  const changeOf = (runId: number): RunCounts => {
    const change = changes.get(runId) ?? ZERO_COUNTS();
    changes.set(runId, change);
    return change;
  };
  // Pages of a COPY batch, not of a transaction: a page is held as row objects, so larger pages
  // raise the peak RSS.
  const rows = new BatchRows(pageRows);
  const rollups = new RollupDeltaBuilder();
  const months = new Set<number>();
  await repo.openSettledRows(client, PRODUCT_KYC);
  for (;;) {
    const page = await repo.readSettledRows(client, pageRows);
    if (page.length === 0) break;
    rows.reset();
    for (const r of page) {
      rows.add(r, r.warnings, 0);
      months.add(r.month);
      const change = changeOf(r.runId);
      change.rowsInserted += 1;
      countWarnings(change.warningsByKind, r.warnings);
    }
    rollups.add(rows);
  }
  await repo.applyRollups(client, rollups.delta());
  await partitions.ensure(client, months);
  await repo.insertSettledRows(client, registry.activeTable);
  for (const [runId, pending] of await repo.pendingRowsByRun(client)) {
    const change = changeOf(runId);
    change.rowsDuplicate = pending - change.rowsInserted;
    change.rowsPending = -pending;
    await repo.settleRunCounts(client, runId, {
      inserted: change.rowsInserted,
      duplicate: change.rowsDuplicate,
      warningsByKind: change.warningsByKind,
    });
  }
  await repo.clearPendingRows(client);
  await repo.bumpDataVersion(client);
  await checkpoint?.('bulk-settle');
  await client.query('COMMIT');
  partitions.afterCommit();
  return changes;
}
