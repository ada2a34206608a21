import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresUser, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { withInitdbPasswordFile } from '../../src/db/embedded-password.js';
import { runInitdb, startPostgres } from '../../src/db/embedded-server.js';
import { withAdmin } from '../../bench/bench-kit.js';
import { freePort } from '../../src/free-port.js';
import { sleep } from '../fault-helpers.js';
import { tempDir } from '../helpers.js';

/** Running, and not a zombie (a parent that never reaps leaves those around). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventually(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await sleep(100))
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
}

const postmasterPid = async (cwd: string): Promise<number> =>
  Number((await readFile(path.join(cwd, '.pgdata', 'postmaster.pid'), 'utf8')).split('\n')[0]);

/** A folder the embedded server, running as the postgres OS user when we are root, can reach. */
async function workDir(): Promise<string> {
  const dir = await tempDir('activities-embedded-');
  await chmod(dir, 0o755);
  return dir;
}

const made: string[] = [];
const pids = new Set<number>();

/** Whatever a failed test left running goes (node by SIGKILL, PostgreSQL by fast shutdown). */
afterEach(async () => {
  for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
  for (const dir of made) {
    const pid = await postmasterPid(dir).catch(() => 0);
    if (pid > 0 && isRunning(pid)) process.kill(pid, 'SIGINT');
  }
});

afterAll(async () => {
  await sleep(500); // let the servers stopped above remove their files
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  port: number;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** The service's environment: the embedded database (no DATABASE_URL), an empty DATA_DIR. */
async function serviceEnv(port: number): Promise<NodeJS.ProcessEnv> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const dataDir = await workDir();
  made.push(dataDir);
  return { ...env, PORT: `${port}`, HOST: '127.0.0.1', DATA_DIR: dataDir, WATCH_DATA_DIR: 'false' };
}

async function launch(command: string, args: string[], cwd: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(command, args, { cwd, env: await serviceEnv(port), stdio: 'pipe' });
  pids.add(child.pid as number);
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, port, output, exited };
}

/** Answers /health (any status: it listens), or fails with the output if it exited. */
async function ready(service: Running, timeoutMs = 45_000): Promise<void> {
  let gone = false;
  void service.exited.then(() => (gone = true));
  for (const deadline = Date.now() + timeoutMs; ; await sleep(200)) {
    if (gone) throw new Error(`the service exited: ${service.output.stderr}`);
    if (Date.now() > deadline) throw new Error(`not listening: ${service.output.stderr}`);
    const answered = await fetch(`http://127.0.0.1:${service.port}/health`).then(
      () => true,
      () => false,
    );
    if (answered) return;
  }
}

/** The pid pino puts on every line: the node process behind `npm start`. */
const nodePid = (stdout: string): number => Number(/"pid":(\d+)/.exec(stdout)?.[1]);

describe('the processes around the embedded database', () => {
  // A copy of the project with its own dist/ and .pgdata/, so that `npm start` can run in it.
  let project: string;

  beforeAll(async () => {
    project = await workDir();
    made.push(project);
    for (const name of ['node_modules', 'src', 'migrations', 'public'])
      await symlink(path.resolve(name), path.join(project, name));
    for (const name of ['package.json', 'tsconfig.json', 'tsconfig.build.json'])
      await copyFile(path.resolve(name), path.join(project, name));
    const build = spawn('npm', ['run', 'build', '--silent'], { cwd: project, stdio: 'inherit' });
    expect(await new Promise((resolve) => build.on('exit', resolve))).toBe(0);
  }, 120_000);

  const server = (): string => path.join(project, 'dist', 'server.js');

  it('when npm start gets SIGTERM, node and the embedded PostgreSQL stop too', async () => {
    const npm = await launch('npm', ['start'], project);
    await ready(npm);
    const node = nodePid(npm.output.stdout);
    pids.add(node);
    const postgres = await postmasterPid(project);
    expect(isRunning(node) && isRunning(postgres)).toBe(true);

    npm.child.kill('SIGTERM');
    await eventually('node and PostgreSQL to stop', () => !isRunning(node), 10_000);
    await eventually('PostgreSQL to stop', () => !isRunning(postgres), 5_000);
    expect(await npm.exited).toBe(0);
  });

  it('when node was killed with SIGKILL, the next start stops the orphaned PostgreSQL and says so in one line', async () => {
    const cwd = await workDir();
    made.push(cwd);
    const first = await launch(process.execPath, [server()], cwd);
    await ready(first);
    const orphan = await postmasterPid(cwd);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(isRunning(orphan)).toBe(true);

    const second = await launch(process.execPath, [server()], cwd);
    await ready(second);
    expect(isRunning(orphan)).toBe(false);
    const said = second.output.stdout.split('\n').filter((l) => l.includes('earlier run'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`(pid ${orphan})`);
    const postgres = await postmasterPid(cwd);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(isRunning(postgres)).toBe(false);
  });

  it('when a running instance owns the data folder, a second start refuses in one line', async () => {
    const cwd = await workDir();
    made.push(cwd);
    const first = await launch(process.execPath, [server()], cwd);
    await ready(first);
    const postgres = await postmasterPid(cwd);

    const second = await launch(process.execPath, [server()], cwd);
    expect(await second.exited).toBe(1);
    expect(second.output.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^cannot start: .* in use by another running instance/),
    ]);
    expect(isRunning(postgres)).toBe(true);
    expect((await fetch(`http://127.0.0.1:${first.port}/health`)).status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  });
});

/** A folder the postgres OS user owns, as the embedded server needs when we are root. */
async function dataFolder(): Promise<string> {
  const parent = await workDir();
  made.push(parent);
  const dir = path.join(parent, 'data');
  await mkdir(dir, { mode: 0o700 });
  const owner = postgresUser();
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}

/** Logs in with the URL's password, or another one; counts the rows of the table kept. */
async function login(url: string, password?: string): Promise<number> {
  const target = new URL(url);
  if (password !== undefined) target.password = password;
  const client = new pg.Client(target.href);
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM kept')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** What the code before generated passwords made: postgres/postgres, `password` auth. */
async function legacyCluster(databaseDir: string): Promise<void> {
  const owner = postgresUser();
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  const quiet = (): void => undefined;
  await withInitdbPasswordFile('postgres', owner, (file) =>
    runInitdb(
      [`--pgdata=${databaseDir}`, '--auth=password', '--username=postgres', `--pwfile=${file}`],
      owner,
      quiet,
    ),
  );
  const port = await freePort();
  const old = await startPostgres(databaseDir, port, [], owner, quiet);
  try {
    const url = `postgres://postgres:postgres@127.0.0.1:${port}`;
    await withAdmin(`${url}/postgres`, (c) => c.query('CREATE DATABASE activities'));
    await withAdmin(`${url}/activities`, (c) => c.query('CREATE TABLE kept AS SELECT 1 AS x'));
  } finally {
    await old.stop();
  }
}

describe('the embedded database superuser', () => {
  it('when a data folder is new, its password is generated, kept owner-only, and required', async () => {
    const dir = await dataFolder();
    const said: string[] = [];
    const db = await startEmbeddedPostgres(dir, { log: (m) => said.push(m) });
    try {
      const file = path.join(dir, 'superuser.password');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const password = (await readFile(file, 'utf8')).trim();
      expect(password).toMatch(/^[\w-]{32}$/);
      expect(decodeURIComponent(new URL(db.url).password)).toBe(password);
      const client = new pg.Client(db.url);
      await client.connect();
      await client.query('CREATE TABLE kept AS SELECT 1 AS x');
      await client.end();
      await expect(login(db.url, 'postgres')).rejects.toMatchObject({ code: '28P01' });
      const hba = (await readFile(path.join(dir, 'pg_hba.conf'), 'utf8'))
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('#'));
      expect(hba.length).toBeGreaterThan(0);
      for (const line of hba) expect(line).toMatch(/\sscram-sha-256$/);
      expect(said).toEqual([]);
    } finally {
      await db.stop();
    }
  });

  it('when a data folder has the old postgres/postgres superuser, its password is replaced and its data kept', async () => {
    const dir = await dataFolder();
    await legacyCluster(dir);
    const said: string[] = [];
    const db = await startEmbeddedPostgres(dir, { log: (m) => said.push(m) });
    try {
      expect(said).toEqual([expect.stringMatching(/replaced .*default password/)]);
      const file = path.join(dir, 'superuser.password');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await login(db.url)).toBe(1);
      await expect(login(db.url, 'postgres')).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await db.stop();
    }
    const again = await startEmbeddedPostgres(dir, { log: (m) => said.push(m) });
    await again.stop();
    expect(said).toHaveLength(1);
  });

  it('when the server cannot start, the error is one line saying why', async () => {
    const dir = await dataFolder();
    await startEmbeddedPostgres(dir).then((db) => db.stop());
    await rm(path.join(dir, 'global', 'pg_control'));
    const error: unknown = await startEmbeddedPostgres(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/did not start: .*pg_control/);
    expect((error as Error).message).not.toContain('\n');
  });
});
