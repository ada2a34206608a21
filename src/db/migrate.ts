import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

/** The SQL migrations live at the project root; this file sits two levels down in src/ and dist/. */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function migrate(databaseUrl: string): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    log: () => undefined,
    // Serialises concurrent start-ups of several processes on one database: the second waits for
    // the first's migrations instead of crashing (the default, 'fail').
    noLock: false,
    advisoryLockMode: 'wait',
  });
}
