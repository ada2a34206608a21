/**
 * The archive and restore CLI with fault injection, for the retention tests only:
 * RETENTION_CRASH_AT=<n> kills this process with SIGKILL just before its n-th month commits.
 */
import { runRetentionCommand } from '../src/modules/retention/retention-command.js';

let remaining = Number(process.env.RETENTION_CRASH_AT);
if (!Number.isInteger(remaining) || remaining < 1)
  throw new Error('RETENTION_CRASH_AT must be a positive integer');

process.exitCode = await runRetentionCommand(process.argv.slice(2), {
  beforeCommit: async () => {
    if (--remaining === 0) process.kill(process.pid, 'SIGKILL');
  },
});
