import type pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';

export interface Database {
  url: string;
  pool: pg.Pool;
  /** DATABASE_READ_URL when set (a standby), else the same server as `url`. */
  readUrl: string;
  readPool: pg.Pool;
  close(): Promise<void>;
}

export const EMBEDDED_DATA_DIR = '.pgdata';

/**
 * Connects to DATABASE_URL, or starts the embedded server; then applies migrations. `log` hears
 * what the embedded start did on its own (a leftover server stopped, a password replaced).
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl'> & Partial<Pick<Config, 'databaseReadUrl'>>,
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
    throw config.databaseUrl === undefined ? error : namingUrl('DATABASE_URL', url, error);
  }
  const pool = createPool(url);
  const readUrl = config.databaseReadUrl ?? url;
  const readPool = readUrl === url ? pool : await openReadPool(readUrl, pool);
  return {
    url,
    pool,
    readUrl,
    readPool,
    async close() {
      if (readPool !== pool) await readPool.end();
      await pool.end();
      await embedded?.stop();
    },
  };
}

/** The standby's pool, tried once so that a wrong DATABASE_READ_URL stops the start. */
async function openReadPool(readUrl: string, pool: pg.Pool): Promise<pg.Pool> {
  const readPool = createPool(readUrl);
  try {
    await readPool.query('SELECT 1');
    return readPool;
  } catch (error) {
    await Promise.all([readPool.end(), pool.end()]);
    throw namingUrl('DATABASE_READ_URL', readUrl, error);
  }
}

/** A failure to use a database URL names its variable and server, never its credentials. */
function namingUrl(name: string, url: string, error: unknown): Error {
  const { hostname, port, pathname } = new URL(url);
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${name} (${hostname}:${port || 5432}${pathname}): ${message}`, {
    cause: error,
  });
}
