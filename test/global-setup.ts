import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

let embedded: EmbeddedDatabase | undefined;
let dataDir: string | undefined;
let runDir: string | undefined;

/**
 * Tests run against real PostgreSQL: DATABASE_URL when set, else an embedded server for the run.
 * Every temporary folder of the run (test files inherit TMPDIR) goes in one, removed at the end.
 */
export async function setup(project: TestProject): Promise<void> {
  runDir = await mkdtemp(path.join(tmpdir(), 'activities-test-run-'));
  await chmod(runDir, 0o755); // the postgres user reaches the clusters that tests make in it
  process.env.TMPDIR = runDir;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'activities-test-pg-'));
    await chmod(dataDir, 0o755); // as root, the server runs as the postgres user and must reach it
    embedded = await startEmbeddedPostgres(path.join(dataDir, 'data'));
    url = embedded.url;
  }
  project.provide('adminDatabaseUrl', url);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  if (runDir) await rm(runDir, { recursive: true, force: true });
}
