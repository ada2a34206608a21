import type pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';

export interface Database {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

export const EMBEDDED_DATA_DIR = '.pgdata';

/**
 * Connects to DATABASE_URL, or starts the embedded server; then applies migrations. `log` hears
 * what the embedded start did on its own (a leftover server stopped, a password replaced).
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl'>,
  log?: (message: string) => void,
): Promise<Database> {
  const embedded =
    config.databaseUrl === undefined
      ? await startEmbeddedPostgres(EMBEDDED_DATA_DIR, { log })
      : undefined;
  const url = config.databaseUrl ?? (embedded as { url: string }).url;
  try {
    await migrate(url);
  } catch (error) {
    await embedded?.stop();
    throw config.databaseUrl === undefined ? error : namingDatabaseUrl(url, error);
  }
  const pool = createPool(url);
  return {
    url,
    pool,
    async close() {
      await pool.end();
      await embedded?.stop();
    },
  };
}

/** A failure to use DATABASE_URL names it and its server, never its credentials. */
function namingDatabaseUrl(url: string, error: unknown): Error {
  const { hostname, port, pathname } = new URL(url);
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`DATABASE_URL (${hostname}:${port || 5432}${pathname}): ${message}`, {
    cause: error,
  });
}
