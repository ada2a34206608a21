import { runRetentionCommand } from './retention-command.js';

process.exitCode = await runRetentionCommand(process.argv.slice(2));
