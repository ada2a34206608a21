/**
 * The import CLI with fault injection, for the fault tests only (test/fault-helpers.ts):
 * IMPORTER_CRASH_AT=<point>:<n> kills this process with SIGKILL (no clean-up at all, like a power
 * cut or the OOM killer) the n-th time the import reaches that checkpoint.
 */
import { runImportCommand } from '../src/modules/importer/import-command.js';
import type { ImportCheckpoint } from '../src/modules/importer/import-types.js';

const spec = /^([a-z-]+):([1-9][0-9]*)$/.exec(process.env.IMPORTER_CRASH_AT ?? '');
if (!spec) throw new Error('IMPORTER_CRASH_AT must be <checkpoint>:<n>');
const armed = spec[1] as ImportCheckpoint;
let remaining = Number(spec[2]);

async function checkpoint(point: ImportCheckpoint): Promise<void> {
  if (point === armed && --remaining === 0) process.kill(process.pid, 'SIGKILL');
}

process.exitCode = await runImportCommand(process.argv[2], { checkpoint });
