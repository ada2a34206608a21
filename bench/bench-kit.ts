/**
 * Plumbing shared by the benchmarks that run the built service: clean-up in reverse order (also on
 * Ctrl-C), the build, scratch folders and databases, child processes with their logs.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STOP_TIMEOUT_MS = 10_000;

/** Every acquired resource pushes its release; cleanUp() runs them in reverse, once. */
export const cleanups: Array<() => Promise<void>> = [];

export async function cleanUp(): Promise<void> {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    await step().catch((error: unknown) => console.error(`clean-up step failed: ${String(error)}`));
  }
}

process.once('SIGINT', () => {
  console.error('\ninterrupted: cleaning up');
  void cleanUp().finally(() => process.exit(130));
});

export function positiveInt(name: string, raw: string): number {
  const n = Number(raw.replace(/[_,]/g, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}

export function build(): void {
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (status ${result.status})`);
}

/** A scratch folder, removed at clean-up unless `keep` (then `keptNote` says what is in it). */
export async function prepareTemp(
  prefix: string,
  keep: boolean,
  keptNote: string,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(async () => {
    if (keep) console.log(`kept ${dir} (${keptNote})`);
    else await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

export async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a scratch database next to the admin one; returns its URL and registers its drop. */
export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  cleanups.push(async () => {
    await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} (FORCE)`));
    console.log(`dropped database ${name}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Spawns node with its output in logFile (and an IPC channel if asked); registers a stop. */
export function startNode(
  label: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  ipc = false,
): ChildProcess {
  const log = openSync(logFile, 'a');
  const stdio: StdioOptions = ipc ? ['ignore', log, log, 'ipc'] : ['ignore', log, log];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env, stdio });
  closeSync(log);
  cleanups.push(() => stopChild(label, child));
  return child;
}

export async function stopChild(label: string, child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  console.log(`stopped ${label} (${child.signalCode ?? `exit ${child.exitCode}`})`);
}

export function tail(file: string, lines = 20): string {
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** The median (the mean of the two middle values for an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
