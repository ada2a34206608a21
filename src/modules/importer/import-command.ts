import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { loadConfigFromProcess } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { listImportFiles } from './data-file.js';
import { Importer } from './importer.js';
import type { FileOutcome, ImportOptions, ImportProgress } from './import-types.js';
import { importWithRetries } from './retry.js';

function formatRate(rows: number, seconds: number): string {
  return `${Math.round(rows / Math.max(seconds, 0.001)).toLocaleString('en-US')} rows/s`;
}

function summaryTable(outcomes: FileOutcome[]): string {
  const table = new Table({
    head: ['file', 'status', 'read', 'inserted', 'duplicates', 'rejected', 'warnings', 'note'],
  });
  for (const o of outcomes) {
    const warnings = Object.values(o.warningsByKind).reduce((a, b) => a + b, 0);
    table.push([
      o.fileName,
      o.status,
      o.rowsRead,
      o.rowsInserted,
      o.rowsDuplicate,
      o.rowsRejected,
      warnings,
      o.message ?? '',
    ]);
  }
  return table.toString();
}

/**
 * `npm run import -- <file or folder>` (importer.cli.ts); returns the exit code. `hooks` is for
 * the fault-injection tests' own entry script only.
 */
export async function runImportCommand(
  target: string | undefined,
  hooks: Pick<ImportOptions, 'checkpoint'> = {},
): Promise<number> {
  if (!target) {
    console.error('usage: npm run import -- <file or folder>');
    return 2;
  }
  const config = loadConfigFromProcess();
  const files = await listImportFiles(target);
  // Ctrl-C stops at the next chunk and closes the database (the embedded server too); committed
  // batches stay, and the same command resumes from them.
  let stopping = false;
  const stopWaiting = new AbortController();
  let importer: Importer | null = null;
  const stop = (): void => {
    stopping = true;
    stopWaiting.abort();
    console.error('\nstopping: committed batches are kept; run the same command to resume');
    importer?.stop();
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const database = await openDatabase({ databaseUrl: config.databaseUrl });
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      format:
        '{bar} {percentage}% | {value}/{total} MB | {rows} rows | {rate} | ETA {eta_formatted} | {file}',
      hideCursor: true,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1, 0, { rows: 0, rate: '', file: '' });
  const onProgress = (p: ImportProgress): void => {
    const seconds = (Date.now() - started) / 1000;
    bar.setTotal(Math.max(1, Math.round(p.bytesTotal / 1e6)));
    bar.update(Math.round(p.bytesRead / 1e6), {
      rows: p.rowsRead.toLocaleString('en-US'),
      rate: formatRate(p.rowsRead, seconds),
      file: `${p.currentFile ?? ''} (${p.filesDone}/${p.filesTotal})`,
    });
  };
  try {
    // A fresh importer per attempt: after a lost connection it resumes from the ledger.
    const outcomes = await importWithRetries(
      () => {
        if (stopping) throw new Error('stopped before the import began');
        importer = new Importer(database.pool, database.url, {
          batchRows: config.importBatchRows,
          bulkLoad: config.importBulkLoad,
          registryGenerationIds: config.importRegistryGenerationIds,
          settleMs: config.fileSettleMs,
          onProgress,
          ...hooks,
        });
        return importer.importFiles(files);
      },
      (error, waitMs) =>
        console.error(`\nconnection lost (${String(error)}); resuming in ${waitMs} ms`),
      stopWaiting.signal,
    );
    bar.stop();
    const seconds = (Date.now() - started) / 1000;
    const rows = outcomes.reduce((a, o) => a + (o.status === 'skipped' ? 0 : o.rowsRead), 0);
    console.log(summaryTable(outcomes));
    console.log(
      `${files.length} file(s), ${rows} rows read in ${seconds.toFixed(1)} s (${formatRate(rows, seconds)})`,
    );
    return outcomes.some((o) => o.status === 'rejected' || o.status === 'failed') ? 1 : 0;
  } catch (error) {
    bar.stop();
    console.error(`import failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database.close();
  }
}
