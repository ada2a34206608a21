import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

interface ProcessInfo {
  ppid: number;
  /** argv joined by spaces. */
  command: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The pid on the first line of postmaster.pid, if the data folder has one. */
async function postmasterPid(databaseDir: string): Promise<number | undefined> {
  try {
    const text = await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8');
    const pid = Number(text.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux: /proc. A zombie counts as gone (a parent that never reaps would otherwise hang us). */
async function fromProc(pid: number): Promise<ProcessInfo | null | undefined> {
  try {
    const [stat, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z') return null;
    return { ppid: Number(ppid), command: cmdline.split('\0').join(' ').trim() };
  } catch {
    return exists(pid) ? undefined : null;
  }
}

/** Elsewhere (macOS): ps. */
async function fromPs(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const { stdout } = await promisify(execFile)('ps', [
      '-ww',
      '-o',
      'ppid=,command=',
      '-p',
      `${pid}`,
    ]);
    const match = /^\s*(\d+)\s+(.*)$/.exec(stdout.trim());
    return match ? { ppid: Number(match[1]), command: match[2] as string } : undefined;
  } catch {
    return undefined;
  }
}

/** null: not running; undefined: running, but what it is cannot be told. */
async function describe(pid: number): Promise<ProcessInfo | null | undefined> {
  if (!exists(pid)) return null;
  const proc = await fromProc(pid);
  return proc === undefined ? fromPs(pid) : proc;
}

const isPostgres = (proc: ProcessInfo): boolean => /(^|\/)postgres\s/.test(proc.command);

/** embedded-server.ts spawns the server straight from node: a live node parent is a live owner. */
function isNode(proc: ProcessInfo | null | undefined): boolean {
  return proc != null && /(^|\/)node(\.exe)?(\s|$)/.test(proc.command);
}

/** Fast shutdown (SIGINT, as `pg_ctl stop -m fast`), then immediate (SIGQUIT) if that hangs. */
async function stopPostmaster(pid: number): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGINT', 15_000],
    ['SIGQUIT', 5_000],
  ] as const) {
    process.kill(pid, signal);
    for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(50))
      if ((await describe(pid)) === null) return;
  }
  throw new Error(`the PostgreSQL server left running (pid ${pid}) did not stop`);
}

/**
 * A server that an earlier run left behind (its node was killed with SIGKILL) keeps the data
 * folder locked, and a new one cannot start. Stops it, or refuses when a live instance owns it;
 * says what it did in one line. Returns quietly when there is nothing to do.
 */
export async function stopLeftoverServer(
  databaseDir: string,
  log: (message: string) => void,
): Promise<void> {
  const pid = await postmasterPid(databaseDir);
  if (pid === undefined) return;
  const proc = await describe(pid);
  // Not running, or unknown: PostgreSQL itself ignores a stale lock file and refuses a live one.
  if (!proc) return;
  if (!isPostgres(proc)) {
    // A reused pid (after a reboot or in a new container) would make PostgreSQL refuse to start.
    await rm(path.join(databaseDir, 'postmaster.pid'), { force: true });
    log(`removed a stale postmaster.pid from ${databaseDir} (pid ${pid} is not its server)`);
    return;
  }
  // Another cluster's server that happens to have this pid is none of our business.
  if (!proc.command.includes(` -D ${databaseDir} `)) return;
  if (isNode(await describe(proc.ppid)))
    throw new Error(
      `the embedded database in ${databaseDir} is in use by another running instance (process ${proc.ppid}); stop it first`,
    );
  await stopPostmaster(pid);
  log(
    `stopped the embedded PostgreSQL (pid ${pid}) that an earlier run left running on ${databaseDir}`,
  );
}
