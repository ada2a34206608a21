import { isIP } from 'node:net';
import path from 'node:path';
import { config as loadDotenv } from 'dotenv';
import { parseServerList, type SessionTarget } from './db/servers.js';
import { DEFAULT_GENERATION_IDS } from './modules/importer/id-registry.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** A standby (or any server replaying the primary) that analytics, health and the ledger read. */
  readonly databaseReadUrl: string | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly corsOrigins: readonly string[];
  readonly adminToken: string | undefined;
  /** Rows per committed import transaction (a checkpoint); larger ones amortise rollup upserts. */
  readonly importBatchRows: number;
  /** auto: bulk-load when the incoming files are large next to the stored facts (importer.ts). */
  readonly importBulkLoad: BulkLoadMode;
  /** Ids in a generation of the id registry before it is sealed (id-registry.ts). */
  readonly importRegistryGenerationIds: number;
  /** Where uploaded CSV files are kept (one folder per upload); imported like DATA_DIR's files. */
  readonly uploadDir: string;
  readonly uploadMaxBytes: number;
  /** Hours a stored upload is kept after its run is done or rejected; 0 removes it at once. */
  readonly uploadRetentionHours: number;
  /** Longest time a request may take to arrive, body included (an upload); 0 = no limit. */
  readonly requestTimeoutSeconds: number;
  /** Requests per minute per client address; 0 switches rate limiting off. */
  readonly rateLimitPerMinute: number;
  /** Fastify's trustProxy: which proxies' X-Forwarded-For to believe for the client address. */
  readonly trustProxy: boolean | number | readonly string[];
  /** Import new or changed files that appear in DATA_DIR while the service runs. */
  readonly watchDataDir: boolean;
  /** A file's unterminated last line is imported once the file has not changed for this long. */
  readonly fileSettleMs: number;
  /** SIGTERM/SIGINT: the graceful close gets this long, then the process exits anyway. */
  readonly shutdownTimeoutMs: number;
  /** Where `npm run archive` writes archived months and `npm run restore` reads them. */
  readonly archiveDir: string;
}

export class ConfigError extends Error {}

export const BULK_LOAD_MODES = ['auto', 'always', 'never'] as const;
export type BulkLoadMode = (typeof BULK_LOAD_MODES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** proxy-addr's names for whole ranges, which Fastify's trustProxy accepts too. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address, or an address/prefix-length within the address's size. */
function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return (
    bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128))
  );
}

/** TRUST_PROXY: unset or false, true, a hop count, or a comma-separated list of addresses/CIDRs. */
function trustProxy(raw: string | undefined): Config['trustProxy'] {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d{1,3}$/.test(value)) return Number(value) === 0 ? false : Number(value);
  const entries = value.split(',').map((e) => e.trim());
  if (entries.every((e) => PROXY_RANGES.includes(e) || isAddressOrCidr(e)))
    return Object.freeze(entries);
  throw new ConfigError(
    `TRUST_PROXY must be true, false, a hop count or a comma-separated list of addresses/CIDRs, got "${raw}"`,
  );
}

/**
 * A database URL, one host or several as libpq writes them; the message never echoes the URL,
 * which may hold a password. DATABASE_URL's target must be a server that takes writes.
 */
function checkDatabaseUrl(name: string, url: string, writable: boolean): void {
  let target: SessionTarget;
  try {
    target = parseServerList(url).target;
  } catch (error) {
    throw new ConfigError(`${name} ${(error as Error).message}`);
  }
  const given = /[?&]target_session_attrs=/.test(url);
  if (writable && given && target !== 'read-write' && target !== 'primary') {
    throw new ConfigError(
      `${name} must have target_session_attrs=read-write or primary: the service writes to it`,
    );
  }
}

/** Reads and validates the environment once; a wrong value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = (env.LOG_LEVEL ?? 'info').trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`,
    );
  }
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined) checkDatabaseUrl('DATABASE_URL', databaseUrl, true);
  const databaseReadUrl = env.DATABASE_READ_URL?.trim() || undefined;
  if (databaseReadUrl !== undefined) {
    if (databaseUrl === undefined)
      throw new ConfigError(
        'DATABASE_READ_URL needs DATABASE_URL: the embedded server has no standby',
      );
    checkDatabaseUrl('DATABASE_READ_URL', databaseReadUrl, false);
  }
  const corsOrigins = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        `CORS_ORIGINS must be a comma-separated list of origins like https://a.example, got "${origin}"`,
      );
    }
  }
  const adminToken = env.ADMIN_TOKEN?.trim() || undefined;
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('ADMIN_TOKEN must be at least 16 characters long');
  }
  const bulkLoad = (env.IMPORT_BULK_LOAD ?? 'auto').trim().toLowerCase();
  if (!BULK_LOAD_MODES.includes(bulkLoad as BulkLoadMode)) {
    throw new ConfigError(
      `IMPORT_BULK_LOAD must be one of ${BULK_LOAD_MODES.join(', ')}, got "${env.IMPORT_BULK_LOAD}"`,
    );
  }
  const dataDir = env.DATA_DIR?.trim() || './data';
  const watch = (env.WATCH_DATA_DIR ?? 'true').trim().toLowerCase();
  if (!['true', 'false', '1', '0'].includes(watch)) {
    throw new ConfigError(`WATCH_DATA_DIR must be true or false, got "${env.WATCH_DATA_DIR}"`);
  }
  return Object.freeze({
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    dataDir,
    databaseUrl,
    databaseReadUrl,
    logLevel: logLevel as Config['logLevel'],
    corsOrigins: Object.freeze(corsOrigins),
    adminToken,
    importBatchRows: integer(env, 'IMPORT_BATCH_ROWS', 1_000_000, 1, 100_000_000),
    importBulkLoad: bulkLoad as BulkLoadMode,
    importRegistryGenerationIds: integer(
      env,
      'IMPORT_REGISTRY_GENERATION_IDS',
      DEFAULT_GENERATION_IDS,
      1,
      1_000_000_000,
    ),
    uploadDir: env.UPLOAD_DIR?.trim() || path.join(dataDir, 'uploads'),
    uploadMaxBytes: integer(env, 'UPLOAD_MAX_BYTES', 10 * 1024 ** 3, 1, 1024 ** 4),
    uploadRetentionHours: integer(env, 'UPLOAD_RETENTION_HOURS', 24, 0, 87_600),
    requestTimeoutSeconds: integer(env, 'REQUEST_TIMEOUT_SECONDS', 300, 0, 86_400),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 6000, 0, 10_000_000),
    trustProxy: trustProxy(env.TRUST_PROXY),
    watchDataDir: watch === 'true' || watch === '1',
    fileSettleMs: integer(env, 'FILE_SETTLE_MS', 10_000, 0, 3_600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    archiveDir: env.ARCHIVE_DIR?.trim() || './archive',
  });
}

/** Loads `.env` (if present, never overriding the real environment) and validates. */
export function loadConfigFromProcess(): Config {
  loadDotenv({ quiet: true });
  return loadConfig(process.env);
}
