import pg from 'pg';

/**
 * Multi-host database URLs, as libpq writes them
 * (`postgres://user@h1:5432,h2:5432/db?target_session_attrs=read-write`). node-postgres connects
 * to one host, so this picks the host the way libpq does, in order, and keeps the choice up to
 * date when a failover moves the primary.
 */

export const SESSION_TARGETS = [
  'any',
  'read-write',
  'read-only',
  'primary',
  'standby',
  'prefer-standby',
] as const;
export type SessionTarget = (typeof SESSION_TARGETS)[number];

export interface ServerList {
  /** One URL per host, in the order given, each usable by pg. */
  urls: string[];
  /** host:port of each, for messages (never the credentials). */
  names: string[];
  target: SessionTarget;
}

/** Checking a server answers within this long, or the next one is tried. */
const PROBE_TIMEOUT_MS = 3000;

/**
 * Splits a URL into one URL per host. `target_session_attrs` is taken out of the query (pg does
 * not know it); without it, `fallback` applies. Throws a one-line Error saying what is wrong.
 */
export function parseServerList(url: string, fallback: SessionTarget = 'any'): ServerList {
  const match = /^(postgres(?:ql)?:\/\/)([^/?#]*@)?([^/?#]*)(.*)$/.exec(url);
  if (!match) throw new Error('must start with postgres:// or postgresql://');
  const [, scheme = '', userinfo = '', hostList = '', rest = ''] = match;
  const hosts = hostList.split(',');
  if (hosts.some((h) => h === '') && hosts.length > 1) throw new Error('has an empty host');
  const urls: string[] = [];
  const names: string[] = [];
  let target: string | null = null;
  for (const host of hosts) {
    const single = `${scheme}${userinfo}${host}${rest}`;
    if (!URL.canParse(single)) throw new Error('is not a valid URL');
    const parsed = new URL(single);
    target = parsed.searchParams.get('target_session_attrs');
    parsed.searchParams.delete('target_session_attrs');
    urls.push(parsed.href);
    names.push(`${parsed.hostname || 'localhost'}:${parsed.port || 5432}`);
  }
  if (hosts.length === 1 && target === null) urls[0] = url; // exactly as given
  if (target !== null && !(SESSION_TARGETS as readonly string[]).includes(target)) {
    throw new Error(`has target_session_attrs=${target}; use one of ${SESSION_TARGETS.join(', ')}`);
  }
  return { urls, names, target: (target as SessionTarget | null) ?? fallback };
}

interface ServerRole {
  inRecovery: boolean;
  readOnly: boolean;
}

function fits(role: ServerRole, target: SessionTarget): boolean {
  switch (target) {
    case 'any':
    case 'prefer-standby':
      return true;
    case 'read-write':
      return !role.readOnly;
    case 'read-only':
      return role.readOnly;
    case 'primary':
      return !role.inRecovery;
    case 'standby':
      return role.inRecovery;
  }
}

async function readRole(client: pg.Client): Promise<ServerRole> {
  const result = await client.query<{ in_recovery: boolean; read_only: string }>(
    `SELECT pg_is_in_recovery() AS in_recovery, current_setting('transaction_read_only') AS read_only`,
  );
  const row = result.rows[0] as { in_recovery: boolean; read_only: string };
  return { inRecovery: row.in_recovery, readOnly: row.read_only === 'on' };
}

async function probe(url: string): Promise<ServerRole> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
  });
  client.on('error', () => undefined); // the server may go while it is asked
  try {
    await client.connect();
    return await readRole(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The URL of the first host, in order, that fits the target (prefer-standby: the first standby,
 * else the first that answers). With one host, that host, unchecked, as before. Throws an error
 * with SQLSTATE 08001 (cannot connect), which the importer's retries treat as passing.
 */
export async function findServer(list: ServerList): Promise<string> {
  if (list.urls.length === 1) return list.urls[0] as string;
  const failures: string[] = [];
  let reachable: string | null = null;
  for (const [i, url] of list.urls.entries()) {
    try {
      const role = await probe(url);
      if (list.target === 'prefer-standby' && !role.inRecovery) {
        reachable ??= url;
        failures.push(`${list.names[i]} is a primary`);
      } else if (fits(role, list.target)) return url;
      else failures.push(`${list.names[i]} is ${role.inRecovery ? 'a standby' : 'a primary'}`);
    } catch (error) {
      failures.push(`${list.names[i]}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (reachable !== null) return reachable;
  throw Object.assign(new Error(`no host is ${list.target} (${failures.join('; ')})`), {
    code: '08001',
  });
}

/** A single-host URL for a URL that may name several: for one-off connections and tools. */
export function serverUrl(url: string, fallback: SessionTarget = 'read-write'): Promise<string> {
  return findServer(parseServerList(url, fallback));
}

const RECHECK_MS = 1000;

/**
 * The chosen host of a multi-host URL, kept current: one connection asks it each second whether
 * it still fits the target, and when it does not (gone, or demoted), the hosts are tried again
 * until one fits. New pool connections go to `url` (see pool.ts); old ones die with their server.
 */
export class ServerSelector {
  private sentinel: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private closed = false;

  private constructor(
    private readonly list: ServerList,
    private chosen: string,
  ) {}

  /** Picks the host now (throwing when none fits) and, with several hosts, keeps watching. */
  static async open(list: ServerList): Promise<ServerSelector> {
    const selector = new ServerSelector(list, await findServer(list));
    if (list.urls.length > 1) {
      selector.timer = setInterval(() => void selector.recheck(), RECHECK_MS);
      selector.timer.unref();
    }
    return selector;
  }

  get url(): string {
    return this.chosen;
  }

  get watching(): boolean {
    return this.timer !== null;
  }

  private async recheck(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      if (!(await this.stillFits())) {
        await this.dropSentinel();
        this.chosen = await findServer(this.list);
      }
    } catch {
      // No host fits yet (a failover in progress): the next tick tries again.
    } finally {
      this.checking = false;
    }
  }

  private async stillFits(): Promise<boolean> {
    try {
      if (!this.sentinel) {
        const client = new pg.Client({
          connectionString: this.chosen,
          connectionTimeoutMillis: PROBE_TIMEOUT_MS,
        });
        client.on('error', () => {
          if (this.sentinel === client) this.sentinel = null;
        });
        await client.connect();
        if (this.closed) {
          await client.end(); // closed while it connected: nothing may keep the process up
          return true;
        }
        this.sentinel = client;
      }
      const role = await readRole(this.sentinel);
      // prefer-standby settled for a primary: look for a standby again at each check.
      return this.list.target === 'prefer-standby' ? role.inRecovery : fits(role, this.list.target);
    } catch {
      return false;
    }
  }

  private async dropSentinel(): Promise<void> {
    const sentinel = this.sentinel;
    this.sentinel = null;
    await sentinel?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.dropSentinel();
  }
}
