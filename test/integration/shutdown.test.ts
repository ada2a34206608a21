import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { freePort } from '../../src/free-port.js';
import { waitFor } from '../fault-helpers.js';
import { FILE_1 } from '../fixtures/hand-worked.js';
import { createTestDatabase, tempDir, writeCsv } from '../helpers.js';

const SERVER = path.resolve('src/server.ts');
const SHUTDOWN_TIMEOUT_MS = 1500;

interface Served {
  port: number;
  exited: Promise<{ code: number | null; ms: number; log: string }>;
  signal(name: NodeJS.Signals): number;
}

/** The service (src/server.ts) in a process of its own, answering on a free port. */
async function serve(databaseUrl: string, dataDir: string): Promise<Served> {
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: String(port),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  };
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], { env, stdio: 'pipe' });
  let log = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (log += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
  let signalledAt = 0;
  const exited = new Promise<{ code: number | null; ms: number; log: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, ms: Date.now() - signalledAt, log })),
  );
  await waitFor('the service to answer', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    return health ? true : undefined;
  });
  return {
    port,
    exited,
    signal(name) {
      signalledAt = Date.now();
      child.kill(name);
      return signalledAt;
    },
  };
}

describe('when the service gets SIGTERM', () => {
  let db: { url: string; drop: () => Promise<void> };
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    dataDir = await tempDir();
    await writeCsv(dataDir, 'activities_20240101.csv', FILE_1);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('then, idle, it closes the database and exits 0 at once', async () => {
    const served = await serve(db.url, dataDir);
    await waitFor('the start-up import to end', async () => {
      const health = (await (await fetch(`http://127.0.0.1:${served.port}/health`)).json()) as {
        status: string;
      };
      return health.status === 'ok' ? true : undefined;
    });
    served.signal('SIGTERM');
    const { code, ms, log } = await served.exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(log).toMatch(/shutting down/);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const left = await admin.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      expect(left.rows[0].n).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('then, with its import stuck behind a lock, it still exits within SHUTDOWN_TIMEOUT_MS, saying what it gave up on', async () => {
    const blocker = new pg.Client({ connectionString: db.url });
    const watcher = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    await watcher.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE import_runs IN ACCESS EXCLUSIVE MODE');
      const served = await serve(db.url, dataDir);
      // The import must be stuck (on the ledger's lock) before the signal, else nothing hangs.
      // Asked from outside the blocker's transaction, which sees one snapshot of the statistics.
      await waitFor('the import to wait for the lock', async () => {
        const waiting = await watcher.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return waiting.rows[0].n > 0 ? true : undefined;
      });
      served.signal('SIGTERM');
      const { code, ms, log } = await served.exited;
      expect(code).toBe(1);
      expect(ms).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 100);
      expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3000);
      expect(log).toMatch(/"gaveUpOn":"stopping the import/);
    } finally {
      await blocker.end();
      await watcher.end();
    }
  });
});
