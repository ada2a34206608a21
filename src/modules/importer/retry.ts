import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseAway } from '../../db/database-away.js';

/** About two minutes in all: long enough for an HA manager's failover at its default timeouts. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];

/**
 * Runs an import again after a lost connection, a database restart or a failover, with back-off.
 * Each run resumes every file from its last committed batch as the ledger of the server it now
 * reaches records it, so nothing is counted twice, and commits a failover lost are redone.
 */
export async function importWithRetries<T>(
  run: () => Promise<T>,
  onRetry: (error: unknown, waitMs: number) => void,
  /** Aborted (a shutdown), the wait ends at once and the last error is thrown. */
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const waitMs = RETRY_DELAYS_MS[attempt];
      if (waitMs === undefined || !isDatabaseAway(error) || signal?.aborted) throw error;
      onRetry(error, waitMs);
      await sleep(waitMs, undefined, { signal }).catch(() => {
        throw error;
      });
    }
  }
}
