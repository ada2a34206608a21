import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/free-port.js';

const run = promisify(execFile);
/** Debian's PostgreSQL 15 server binaries (.ci/run installs them where missing). */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** PostgreSQL refuses to run as root: as root, its tools run as the postgres OS user. */
async function asPostgres(tool: string, args: string[]): Promise<string> {
  const command = path.join(PG_BIN, tool);
  const { stdout } =
    process.getuid?.() === 0
      ? await run('runuser', ['-u', 'postgres', '--', command, ...args])
      : await run(command, args);
  return stdout;
}

export async function postgresOwnedDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  if (process.getuid?.() === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout);
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout);
    await chown(dir, uid, gid);
  }
  return dir;
}

/** A throw-away PostgreSQL server on a free local port, with its data in a temp folder. */
export interface Cluster {
  port: number;
  dir: string;
  url(database: string): string;
  stop(): Promise<void>;
}

async function start(dir: string): Promise<Cluster> {
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
  await asPostgres('pg_ctl', [
    '-D',
    dir,
    '-l',
    path.join(dir, 'server.log'),
    '-o',
    options,
    '-w',
    'start',
  ]);
  return {
    port,
    dir,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      await asPostgres('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(() => '');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A new primary that accepts streaming replication from local standbys (trust auth). */
export async function startPrimary(): Promise<Cluster> {
  const dir = await postgresOwnedDir('activities-primary-');
  await asPostgres('initdb', [
    '-D',
    dir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  return start(dir);
}

/** A hot standby of `primary`, streaming from it (pg_basebackup -R). */
export async function startStandby(primary: Cluster): Promise<Cluster> {
  const dir = await postgresOwnedDir('activities-standby-');
  await asPostgres('pg_basebackup', [
    '-h',
    '127.0.0.1',
    '-p',
    String(primary.port),
    '-U',
    'postgres',
    '-D',
    dir,
    '-R',
    '-X',
    'stream',
    '--checkpoint=fast', // the default waits for a spread checkpoint, minutes on an idle server
  ]);
  return start(dir);
}
