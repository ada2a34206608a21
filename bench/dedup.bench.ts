/**
 * What exact deduplication costs a new day as the store grows, per candidate structure (issue 23's
 * "measured before you choose"). For stores of N random event ids, it times what each design
 * must do for a new day of 1 M ids (sorted, as the importer sorts a batch):
 *
 * - btree-insert: enter the day into one unique B-tree of all ids in one sorted pass (a month
 *   partition's key behaves so when the month holds most of the store);
 * - btree-batches: the same in 20 sorted batches of 50 000, as today's keyed import copies them;
 * - btree-probe: only look the day up in such a B-tree, never insert (a read-only index);
 * - filter-read: read a Bloom filter of all ids, 10 bits an id, out of PostgreSQL (a screen that
 *   a new day's ids are checked against, held nowhere between imports);
 * - filter-rewrite: write that filter back with the day's bits set (a screen kept in the database).
 *
 * Each is timed at every size in one run; ratios are against the smallest size (the store of one
 * day). Usage: npm run bench:dedup -- --stored 1000000,20000000,100000000
 */
import { finished } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { positiveInt, withAdmin } from './bench-kit.js';

const DAY_IDS = 1_000_000;
const FILTER_BITS_PER_ID = 10;
const FILTER_CHUNK_BYTES = 1 << 20;
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CANDIDATES = [
  'btree-insert',
  'btree-batches',
  'btree-probe',
  'filter-read',
  'filter-rewrite',
] as const;
const COPY_BATCH_IDS = 50_000;
type Candidate = (typeof CANDIDATES)[number];

function parseSizes(argv: string[]): number[] {
  const at = argv.indexOf('--stored');
  const raw = at >= 0 ? (argv[at + 1] ?? '') : '1000000,20000000';
  const sizes = raw.split(',').map((s) => positiveInt('--stored', s));
  return [...new Set(sizes)].sort((a, b) => a - b);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Grows `stored` to `size` ids: the key is dropped, ids added, the key rebuilt in one sort. */
async function growStore(db: pg.Client, size: number): Promise<void> {
  const have = Number(
    (await db.query<{ n: string }>('SELECT count(*) AS n FROM stored')).rows[0]?.n,
  );
  await db.query('ALTER TABLE stored DROP CONSTRAINT IF EXISTS stored_pkey');
  await db.query('INSERT INTO stored SELECT gen_random_uuid() FROM generate_series(1, $1)', [
    size - have,
  ]);
  await db.query('ALTER TABLE stored ADD PRIMARY KEY (id)');
  await db.query('VACUUM ANALYZE stored');
}

/** A filter of `size` ids' worth of bits, in 1 MiB chunks stored uncompressed (as random bits are). */
async function buildFilter(db: pg.Client, size: number): Promise<number> {
  const bytes = Math.ceil((size * FILTER_BITS_PER_ID) / 8);
  const chunks = Math.ceil(bytes / FILTER_CHUNK_BYTES);
  await db.query('TRUNCATE filter');
  await db.query(
    `INSERT INTO filter SELECT g, decode(repeat(md5(g::text), $2 / 16), 'hex')
     FROM generate_series(1, $1) g`,
    [chunks, FILTER_CHUNK_BYTES],
  );
  return chunks * FILTER_CHUNK_BYTES;
}

async function readFilter(db: pg.Client): Promise<number> {
  let bytes = 0;
  const stream = db.query(copyTo('COPY (SELECT bits FROM filter ORDER BY chunk) TO STDOUT'));
  stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
  await finished(stream);
  return bytes;
}

async function measureAt(db: pg.Client, size: number): Promise<Record<Candidate, number>> {
  await growStore(db, size);
  await buildFilter(db, size);
  await db.query('CHECKPOINT'); // each starts after a checkpoint: first touches write whole pages
  const probe = await timed(() =>
    db.query(
      `SET enable_hashjoin = off; SET enable_mergejoin = off;
       SELECT count(*) FROM (SELECT id FROM day ORDER BY id) d
       WHERE EXISTS (SELECT 1 FROM stored s WHERE s.id = d.id);
       RESET enable_hashjoin; RESET enable_mergejoin`,
    ),
  );
  const read = await timed(() => readFilter(db));
  await db.query('CHECKPOINT');
  const rewrite = await timed(() =>
    db.query('UPDATE filter SET bits = set_byte(bits, 0, (get_byte(bits, 0) + 1) % 256)'),
  );
  await db.query('CHECKPOINT');
  const insert = await timed(() => db.query('INSERT INTO stored SELECT id FROM day ORDER BY id'));
  await forgetDay(db);
  const batches = await timed(async () => {
    for (let from = 0; from < DAY_IDS; from += COPY_BATCH_IDS) {
      await db.query(
        `INSERT INTO stored SELECT id FROM (SELECT id FROM day WHERE n > $1 AND n <= $2) b ORDER BY id`,
        [from, from + COPY_BATCH_IDS],
      );
    }
  });
  await forgetDay(db);
  return {
    'btree-insert': insert,
    'btree-batches': batches,
    'btree-probe': probe,
    'filter-read': read,
    'filter-rewrite': rewrite,
  };
}

/** Takes the day's ids out of the store again, and its dead index entries, after a checkpoint. */
async function forgetDay(db: pg.Client): Promise<void> {
  await db.query('DELETE FROM stored s USING day d WHERE s.id = d.id');
  await db.query('VACUUM stored');
  await db.query('CHECKPOINT');
}

async function main(): Promise<void> {
  const sizes = parseSizes(process.argv.slice(2));
  const name = `dedup_bench_${process.pid}`;
  await withAdmin(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = new pg.Client({ connectionString: url.href });
  await db.connect();
  try {
    await db.query(`SET statement_timeout = 0; SET maintenance_work_mem = '512MB'`);
    await db.query('CREATE TABLE stored (id uuid NOT NULL)');
    await db.query('CREATE TABLE filter (chunk int PRIMARY KEY, bits bytea NOT NULL)');
    await db.query('ALTER TABLE filter ALTER COLUMN bits SET STORAGE EXTERNAL');
    await db.query(
      'CREATE TABLE day AS SELECT n, gen_random_uuid() AS id FROM generate_series(1, $1) n',
      [DAY_IDS],
    );
    await db.query('CREATE INDEX ON day (n)');
    await db.query('ANALYZE day');
    const rows: Array<{ size: number; seconds: Record<Candidate, number> }> = [];
    for (const size of sizes) {
      console.error(`measuring a store of ${size.toLocaleString('en-US')} ids…`);
      rows.push({ size, seconds: await measureAt(db, size) });
    }
    const first = rows[0] as (typeof rows)[number];
    console.log(
      `A new day of ${DAY_IDS.toLocaleString('en-US')} ids; seconds (× the store of ${first.size.toLocaleString('en-US')} ids)`,
    );
    console.log(`| stored ids | ${CANDIDATES.join(' | ')} |`);
    console.log(`| --- | ${CANDIDATES.map(() => '---').join(' | ')} |`);
    for (const { size, seconds } of rows) {
      const cells = CANDIDATES.map(
        (c) => `${seconds[c].toFixed(2)} s (${(seconds[c] / first.seconds[c]).toFixed(1)}×)`,
      );
      console.log(`| ${size.toLocaleString('en-US')} | ${cells.join(' | ')} |`);
    }
  } finally {
    await db.end();
    await withAdmin(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name}`));
  }
}

await main();
