import pg from 'pg';
import type { AnswerCache } from './analytics.cache.js';

const POLL_MS = 1000;

/**
 * Keeps the answer cache on the latest committed data version: LISTEN data_version for an
 * immediate refresh when any instance commits an import, and a one-second poll as the safety net
 * (a lost LISTEN connection is re-opened by the poll). A standby takes no LISTEN, so there
 * (`listen: false`) the poll alone finds what it has replayed.
 */
export function watchDataVersion(
  /** The server to ask, read at each (re)connection: a failover may have moved it. */
  databaseUrl: () => string,
  cache: AnswerCache,
  log: (error: unknown) => void,
  { listen }: { listen: boolean },
): () => Promise<void> {
  let listener: pg.Client | null = null;
  let stopped = false;
  const refresh = (): void => {
    cache.refresh().catch(log);
  };
  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    client.on('notification', refresh);
    client.on('error', () => {
      if (listener === client) listener = null;
    });
    await client.connect();
    await client.query('LISTEN data_version');
    if (stopped) await client.end();
    else listener = client;
  };
  const timer = setInterval(() => {
    refresh();
    if (listen && !listener && !stopped) connect().catch(() => undefined);
  }, POLL_MS);
  timer.unref();
  if (listen) connect().catch(() => undefined);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await listener?.end().catch(() => undefined);
  };
}
