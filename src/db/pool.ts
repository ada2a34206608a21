import pg from 'pg';

// int8 and numeric arrive as strings: money and counts stay exact (converted with BigInt where summed).
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    // A runaway query must not hold a request; imports set their own longer timeout.
    options: '-c statement_timeout=15000 -c TimeZone=UTC',
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => {
    /* an idle client died (database restart): the pool replaces it on next use */
  });
  return pool;
}
