import pg from 'pg';
import type { ServerSelector } from './servers.js';

/** A client class whose connections go to the host the selector has chosen at that moment. */
function clientOnChosenHost(selector: ServerSelector): new (config?: pg.ClientConfig) => pg.Client {
  return class extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionString: selector.url });
    }
  };
}

/**
 * A connection lost (a restart, a failover) is emitted as 'error' on its client. pg-pool listens
 * only while a client is idle; one checked out between two queries would otherwise throw it and
 * end the process. The query in flight, or the next, reports the loss; pg-pool drops the client
 * when it is released unusable.
 */
export function keepClientErrorsHandled(pool: pg.Pool): void {
  pool.on('error', () => undefined); // an idle client died: the pool replaces it on next use
  pool.on('connect', (client) => client.on('error', () => undefined));
}

/**
 * A pool on one server, or on a selector's host. With several hosts, each new connection goes to
 * the host chosen then (pg-pool's documented `Client` option), and connections are recycled after
 * a minute, so that none stays long on a server a failover demoted.
 */
export function createPool(server: string | ServerSelector, max = 10): pg.Pool {
  const selector = typeof server === 'string' ? null : server;
  // int8 and numeric arrive as strings: money and counts stay exact (converted with BigInt where summed).
  const pool = new pg.Pool({
    connectionString: selector?.url ?? (server as string),
    max,
    // A runaway query must not hold a request; imports set their own longer timeout.
    options: '-c statement_timeout=15000 -c TimeZone=UTC',
    connectionTimeoutMillis: 10_000,
    ...(selector?.watching ? { Client: clientOnChosenHost(selector), maxLifetimeSeconds: 60 } : {}),
  });
  keepClientErrorsHandled(pool);
  return pool;
}
