import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { generateFiles } from '../bench/generate.js';
import { loadConfig, type Config } from '../src/config.js';

/** A fresh database on the test server, dropped by the returned function. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function tempDir(prefix = 'activities-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** A maker of temporary folders for one test file, all removed after its tests. */
export function scratchDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await tempDir();
    dirs.push(dir);
    return dir;
  };
}

export const HEADER =
  'event_id,merchant_id,event_timestamp,product,event_type,amount,status,channel,region,merchant_tier';

/** Writes a CSV fixture (header + lines joined with \n unless given as one string). */
export async function writeCsv(
  dir: string,
  name: string,
  lines: string[] | string,
): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof lines === 'string' ? lines : `${lines.join('\n')}\n`);
  return file;
}

export function testConfig(
  overrides: Partial<Config> & { databaseUrl: string; dataDir: string },
): Config {
  const defaults = loadConfig({ LOG_LEVEL: 'silent', PORT: '0' });
  return { ...defaults, uploadDir: path.join(overrides.dataDir, 'uploads'), ...overrides };
}

let counter = 0;
/** A deterministic valid UUID for fixtures: uuid(1) → 00000000-0000-4000-8000-000000000001. */
export function uuid(n: number = ++counter): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

/** A clean generated file's header and data lines (clean: no quoting, so fields split on commas). */
export async function generatedLines(
  dir: string,
  seed: number,
  rows: number,
): Promise<{ header: string; rows: string[] }> {
  const [file] = (
    await generateFiles({ days: 1, rowsPerDay: rows, seed, outDir: dir, clean: true })
  ).files;
  const [header, ...lines] = (await readFile(path.join(dir, file as string), 'utf8'))
    .split('\n')
    .filter((l) => l !== '');
  return { header: header as string, rows: lines };
}
