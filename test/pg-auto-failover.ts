import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/free-port.js';
import { waitUntil } from './fault-helpers.js';
import { PG_BIN, postgresOwnedDir } from './pg-cluster.js';

/**
 * A pg_auto_failover formation on local ports: a monitor and two PostgreSQL nodes, each run by
 * its own `pg_autoctl` (Debian's pg-auto-failover-cli and postgresql-15-auto-failover, which
 * .ci/run installs). The monitor's timeouts are shortened so that a failover takes seconds.
 */
export interface Formation {
  ports: number[];
  /** The libpq multi-host URL of both nodes, for the writable one. */
  url(database: string): string;
  nodeUrl(port: number, database: string): string;
  /** The port of the node the monitor has as primary (or promoting). */
  primaryPort(): Promise<number | null>;
  /** SIGKILL to a node's pg_autoctl and its postmaster: the machine as good as gone. */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

const MONITOR_SETTINGS: Record<string, string> = {
  'pgautofailover.health_check_period': '1000',
  'pgautofailover.health_check_retry_delay': '500',
  'pgautofailover.health_check_timeout': '1000',
  'pgautofailover.health_check_max_retries': '1',
  'pgautofailover.node_considered_unhealthy_timeout': '3000',
  'pgautofailover.primary_demote_timeout': '3000',
};

export async function startFormation(): Promise<Formation> {
  const base = await postgresOwnedDir('activities-ha-');
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(base, 'config'),
    XDG_DATA_HOME: path.join(base, 'data'),
  };
  const keepers: ChildProcess[] = [];
  const keeperOf = new Map<number, ChildProcess>();
  /** pg_autoctl as the postgres OS user (PostgreSQL refuses root), in a process group of its own. */
  const autoctl = (args: string[], log: string): ChildProcess => {
    const line = ['pg_autoctl', ...args].map((a) => `'${a}'`).join(' ');
    const shell = `exec ${line} >> '${path.join(base, log)}' 2>&1`;
    const command = process.getuid?.() === 0 ? 'runuser' : 'sh';
    const argv =
      process.getuid?.() === 0 ? ['-u', 'postgres', '--', 'sh', '-c', shell] : ['-c', shell];
    const child = spawn(command, argv, { env, detached: true, stdio: 'ignore' });
    keepers.push(child);
    return child;
  };
  const finished = (child: ChildProcess): Promise<number | null> =>
    new Promise((resolve) => child.once('exit', resolve));
  const pgctl = path.join(PG_BIN, 'pg_ctl');
  const common = ['--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--pgctl', pgctl];

  const monitorPort = await freePort();
  const monitorDir = path.join(base, 'monitor');
  const created = await finished(
    autoctl(
      ['create', 'monitor', '--pgdata', monitorDir, '--pgport', String(monitorPort), ...common],
      'monitor.log',
    ),
  );
  if (created !== 0)
    throw new Error(`pg_autoctl create monitor failed: ${await tail(base, 'monitor.log')}`);
  autoctl(['run', '--pgdata', monitorDir], 'monitor.log');
  const monitorUrl = `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`;
  let monitor = new pg.Client();
  await waitUntil(
    'the monitor',
    async () => {
      monitor = new pg.Client({ connectionString: monitorUrl }); // a client connects once
      return monitor.connect().then(
        () => true,
        () => false,
      );
    },
    30_000,
    200,
  );
  for (const [name, value] of Object.entries(MONITOR_SETTINGS))
    await monitor.query(`ALTER SYSTEM SET ${name} = '${value}'`);
  await monitor.query('SELECT pg_reload_conf()');

  const states = async (): Promise<Array<{ port: number; reported: string; goal: string }>> =>
    (
      await monitor.query<{ port: number; reported: string; goal: string }>(
        'SELECT nodeport AS port, reportedstate::text AS reported, goalstate::text AS goal FROM pgautofailover.node ORDER BY nodeid',
      )
    ).rows;
  const ports = [await freePort(), await freePort()];
  const nodeMonitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const startNode = (port: number, i: number): void => {
    const keeper = autoctl(
      [
        'create',
        'postgres',
        '--pgdata',
        path.join(base, `node${i}`),
        '--pgport',
        String(port),
        '--monitor',
        nodeMonitorUrl,
        '--run',
        ...common,
      ],
      `node${i}.log`,
    );
    keeperOf.set(port, keeper);
  };
  const reached = (want: string[]) => async () => {
    const now = await states();
    return (
      now.length === want.length &&
      now.every((s, i) => s.reported === want[i] && s.goal === want[i])
    );
  };
  startNode(ports[0] as number, 1);
  await waitUntil('node 1 running alone', reached(['single']), 90_000, 200);
  startNode(ports[1] as number, 2);
  await waitUntil('node 2 streaming from node 1', reached(['primary', 'secondary']), 120_000, 200);

  const nodeUrl = (port: number, database: string): string =>
    `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    ports,
    url: (database) =>
      `postgres://postgres@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${database}?target_session_attrs=read-write`,
    nodeUrl,
    async primaryPort() {
      const promoted = ['single', 'primary', 'wait_primary'];
      const node = (await states()).find(
        (s) => promoted.includes(s.reported) && promoted.includes(s.goal),
      );
      return node?.port ?? null;
    },
    async kill(port) {
      const keeper = keeperOf.get(port);
      const postmaster = Number(
        (
          await readFile(
            path.join(base, `node${ports.indexOf(port) + 1}`, 'postmaster.pid'),
            'utf8',
          )
        ).split('\n')[0],
      );
      if (keeper?.pid) process.kill(-keeper.pid, 'SIGKILL');
      process.kill(postmaster, 'SIGKILL');
    },
    async stop() {
      await monitor.end().catch(() => undefined);
      for (const keeper of keepers) {
        try {
          if (keeper.pid && keeper.exitCode === null) process.kill(-keeper.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      // The keepers' postmasters, which a SIGKILL to pg_autoctl leaves running.
      for (const dir of ['monitor', 'node1', 'node2']) {
        const pid = await readFile(path.join(base, dir, 'postmaster.pid'), 'utf8').then(
          (text) => Number(text.split('\n')[0]),
          () => 0,
        );
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

async function tail(base: string, log: string): Promise<string> {
  const text = await readFile(path.join(base, log), 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ');
}
