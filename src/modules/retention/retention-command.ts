import { parseArgs } from 'node:util';
import { loadConfigFromProcess } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { monthText, parseMonth } from '../analytics/analytics.definitions.js';
import { archiveMonthsBefore, restoreMonth, type RetentionHooks } from './retention.js';

const USAGE = 'usage: npm run archive -- --before YYYY-MM | npm run restore -- YYYY-MM';

/**
 * `npm run archive -- --before YYYY-MM` and `npm run restore -- YYYY-MM` (retention.cli.ts);
 * returns the exit code. `hooks` is for the fault-injection tests' own entry script only.
 */
export async function runRetentionCommand(
  argv: string[],
  hooks: RetentionHooks = {},
): Promise<number> {
  const [command, ...rest] = argv;
  let month: number | null = null;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { before: { type: 'string' } },
      allowPositionals: true,
    });
    month = parseMonth((command === 'archive' ? values.before : positionals[0]) ?? '');
  } catch {
    month = null;
  }
  if ((command !== 'archive' && command !== 'restore') || month === null) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfigFromProcess();
  const database = await openDatabase({ databaseUrl: config.databaseUrl });
  try {
    if (command === 'archive') {
      const archived = await archiveMonthsBefore(database.url, config.archiveDir, month, hooks);
      for (const a of archived)
        console.log(`${monthText(a.month)}: ${a.rows} rows → ${a.fileName} (${a.bytes} bytes)`);
      console.log(`${archived.length} month(s) archived to ${config.archiveDir}`);
    } else {
      const restored = await restoreMonth(database.url, config.archiveDir, month, hooks);
      console.log(`${monthText(month)}: ${restored.rows} rows restored`);
    }
    return 0;
  } catch (error) {
    console.error(`${command} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database.close();
  }
}
