/** Errors that mean the connection or the server went away, not that the data is wrong. */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03'].includes(
      code,
    ) ||
    code.startsWith('08') ||
    // pg's own words for a client whose connection broke (the first error may have gone elsewhere).
    /Connection terminated|connection timeout|encountered a connection error and is not queryable/i.test(
      message,
    )
  );
}

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 16000];

/**
 * Runs an import again after a lost connection or a database restart, with back-off. Each run
 * resumes every file from its last committed batch, so nothing is counted twice.
 */
export async function importWithRetries<T>(
  run: () => Promise<T>,
  onRetry: (error: unknown, waitMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const waitMs = RETRY_DELAYS_MS[attempt];
      if (waitMs === undefined || !isTransient(error)) throw error;
      onRetry(error, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
