import { runImportCommand } from './import-command.js';

process.exitCode = await runImportCommand(process.argv[2]);
