import type pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';
import { parseServerList, ServerSelector, type SessionTarget } from './servers.js';

export interface Database {
  /** DATABASE_URL as configured (it may name several hosts). */
  url: string;
  /** The writable host chosen now: for connections of one's own, such as LISTEN. */
  primaryUrl(): string;
  pool: pg.Pool;
  /** DATABASE_READ_URL when set (a standby), else DATABASE_URL. */
  readUrl: string;
  /** The read host chosen now. */
  readHostUrl(): string;
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
  const opened: ServerSelector[] = [];
  const fail = async (name: string, failedUrl: string, error: unknown): Promise<never> => {
    await Promise.all(opened.map((s) => s.close()));
    await embedded?.stop();
    throw config.databaseUrl === undefined ? error : namingUrl(name, failedUrl, error);
  };
  const select = async (name: string, selectUrl: string, target: SessionTarget) => {
    try {
      const selector = await ServerSelector.open(parseServerList(selectUrl, target));
      opened.push(selector);
      return selector;
    } catch (error) {
      return fail(name, selectUrl, error);
    }
  };
  const primary = await select('DATABASE_URL', url, 'read-write');
  await migrate(primary.url).catch((error: unknown) => fail('DATABASE_URL', url, error));
  const pool = createPool(primary);
  const readUrl = config.databaseReadUrl ?? url;
  const standby = readUrl === url ? primary : await select('DATABASE_READ_URL', readUrl, 'any');
  const readPool = standby === primary ? pool : createPool(standby);
  if (readPool !== pool) {
    // Tried once, so that a DATABASE_READ_URL that cannot be used stops the start.
    await readPool.query('SELECT 1').catch(async (error: unknown) => {
      await Promise.all([readPool.end(), pool.end()]);
      return fail('DATABASE_READ_URL', readUrl, error);
    });
  }
  return {
    url,
    primaryUrl: () => primary.url,
    pool,
    readUrl,
    readHostUrl: () => standby.url,
    readPool,
    async close() {
      if (readPool !== pool) await readPool.end();
      await pool.end();
      await Promise.all(opened.map((s) => s.close()));
      await embedded?.stop();
    },
  };
}

/** A failure to use a database URL names its variable and servers, never its credentials. */
function namingUrl(name: string, url: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  let where = 'unparsable';
  try {
    const list = parseServerList(url);
    where = `${list.names.join(',')}${new URL(list.urls[0] as string).pathname}`;
  } catch {
    /* the config check refuses such a URL first */
  }
  return new Error(`${name} (${where}): ${message}`, { cause: error });
}
