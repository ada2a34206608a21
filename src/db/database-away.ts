/** Errors that mean the connection or the server went away, not that the data is wrong. */
export function isDatabaseAway(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : '';
  return (
    // 25006: a read-only server, such as a primary a failover has just demoted.
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      '57P01',
      '57P02',
      '57P03',
      '25006',
    ].includes(code) ||
    code.startsWith('08') ||
    // pg's own words for a client whose connection broke (the first error may have gone elsewhere).
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|encountered a connection error and is not queryable/i.test(
      message,
    )
  );
}
