import type pg from 'pg';
import { finished } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import { COPY_HEADER_BYTES } from './binary-copy.js';
import { IdFilter, IdHashes } from './id-filter.js';
import type { UnregisteredIds } from './import-state.js';
import { findStoredIds, registerIds } from './importer.repository.js';
import { uuidText } from './uuid-set.js';

/**
 * The registry of every event id ever stored (event_ids), in generations
 * (migrations/1700000000005_registry-generations.sql). New ids enter the newest generation, whose
 * unique key refuses an id it holds. Once it holds about `generationIds`, it is sealed: a Bloom
 * filter of its ids is stored, and a new generation begins. A transaction's ids are screened by
 * the sealed generations' filters, and only the few they flag are looked up. So a day's import
 * enters one index of at most `generationIds` ids, whatever the store holds; what still grows with
 * the store is reading the filters, 2.5 bytes an id (docs/storage.md).
 */
export const DEFAULT_GENERATION_IDS = 8_000_000;
/** Ids a filter segment covers: its filter (2.5 MB) and its ids while it is built stay small. */
const SEGMENT_IDS = 1 << 20;
/**
 * About a registry tuple's bytes on disk, to estimate ids from sizes: 24 of header, 16 of uuid and
 * 4 of generation, aligned, and a line pointer. A bulk load's generation takes 44 (its generation
 * column was added after its rows, so they do not store it); the estimates are approximate.
 */
const ID_TUPLE_BYTES = 52;
/** About how many ids a seal samples to split its reading in two halves. */
const MEDIAN_SAMPLE_IDS = 20_000;

const tableOf = (generation: number): string => `event_ids_${generation}`;

/** A sealed generation: where each of its filter's segments begins (16 bytes an id, in order). */
interface SealedGeneration {
  generation: number;
  firstIds: Buffer;
  segments: number;
}

export class IdRegistry {
  private constructor(
    private readonly pool: pg.Pool,
    private active: number,
    private activeIds: number,
    private readonly sealed: SealedGeneration[],
    private readonly generationIds: number,
    private readonly segmentIds: number,
  ) {}

  /**
   * The registry as stored. The caller holds the import lock on `client`; seals read on one more
   * connection from `pool`. Tests make segments small.
   */
  static async open(
    client: pg.Client,
    pool: pg.Pool,
    generationIds: number,
    segmentIds = SEGMENT_IDS,
  ): Promise<IdRegistry> {
    const generations = await client.query<{ generation: number; bytes: number }>(
      `SELECT substring(c.relname FROM '^event_ids_(\\d+)$')::int AS generation,
              pg_relation_size(c.oid)::float8 AS bytes
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'event_ids'::regclass ORDER BY 1`,
    );
    const newest = generations.rows.at(-1);
    if (!newest) throw new Error('the id registry has no generation: are migrations applied?');
    const segments = await client.query<{ generation: number; firstId: Buffer }>(
      `SELECT generation, uuid_send(first_id) AS "firstId" FROM event_id_filters
       ORDER BY generation, segment`,
    );
    const sealed = generations.rows.slice(0, -1).map(({ generation }) => {
      const ids = segments.rows.filter((s) => s.generation === generation).map((s) => s.firstId);
      return { generation, firstIds: Buffer.concat(ids), segments: ids.length };
    });
    return new IdRegistry(
      pool,
      newest.generation,
      Math.round(newest.bytes / ID_TUPLE_BYTES),
      sealed,
      generationIds,
      segmentIds,
    );
  }

  /** The table new ids are copied into. */
  get activeTable(): string {
    return tableOf(this.active);
  }

  /** About how many ids the registry holds, from its size on disk. */
  static async estimatedIds(client: pg.Client): Promise<number> {
    const result = await client.query<{ bytes: number }>(
      `SELECT coalesce(sum(pg_relation_size(inhrelid)), 0)::float8 AS bytes FROM pg_inherits
       WHERE inhparent = 'event_ids'::regclass`,
    );
    return (result.rows[0]?.bytes ?? 0) / ID_TUPLE_BYTES;
  }

  /**
   * Which of `count` packed ids a sealed generation may hold: its filter flags them. These are
   * the only ones to look up; the others are in no sealed generation.
   */
  async screen(connection: pg.ClientBase, ids: Buffer, count: number): Promise<string[]> {
    if (count === 0 || !this.anySealedIds) return [];
    const hashes = IdHashes.of(ids, count);
    const flagged = new Uint8Array(count);
    const reader = new ByteaReader();
    for (const generation of this.sealed) {
      if (generation.segments === 0) continue; // sealed empty
      const { order, ends } = groupBySegment(generation, ids, count);
      for (let segment = 0, from = 0; segment < generation.segments; segment++) {
        const to = ends[segment] as number;
        if (to === from) continue;
        const bits = await reader.read(
          connection,
          `SELECT bits FROM event_id_filters
           WHERE generation = ${generation.generation} AND segment = ${segment}`,
        );
        if (!bits)
          throw new Error(
            `filter segment ${segment} of generation ${generation.generation} is missing`,
          );
        const filter = new IdFilter(bits);
        for (; from < to; from++) {
          const k = order[from] as number;
          if (filter.mightContain(hashes, k)) flagged[k] = 1;
        }
      }
    }
    const maybe: string[] = [];
    flagged.forEach((f, k) => f === 1 && maybe.push(uuidText(ids, k * 16)));
    return maybe;
  }

  /**
   * Enters a transaction's new ids into the newest generation, in one sorted pass. False when one
   * is stored already: the newest generation's key refuses it, or (with `screen`) a sealed
   * generation's filter flags it and a lookup finds it. Sealed generations are committed, so a
   * pooled connection screens them while `client` copies the ids.
   */
  async register(client: pg.Client, ids: UnregisteredIds, screen: boolean): Promise<boolean> {
    const [stored, entered] = await allSettledOrFirstFailure([
      screen ? this.holdsAnyOf(ids.packed(), ids.count) : Promise.resolve(false),
      registerIds(client, this.activeTable, ids.sortedChunks()),
    ]);
    if (stored || !entered) return false;
    this.activeIds += ids.count;
    return true;
  }

  /** Whether a sealed generation holds one of `count` packed ids, on a pooled connection. */
  private async holdsAnyOf(ids: Buffer, count: number): Promise<boolean> {
    if (count === 0 || !this.anySealedIds) return false; // no connection taken for nothing
    const connection = await this.pool.connect();
    try {
      const maybe = await this.screen(connection, ids, count);
      return maybe.length > 0 && (await findStoredIds(connection, maybe.sort())).length > 0;
    } finally {
      connection.release();
    }
  }

  /** Whether a sealed generation holds ids (one sealed empty has no filter). */
  private get anySealedIds(): boolean {
    return this.sealed.some((g) => g.segments > 0);
  }

  /** Once the newest generation is full, seals it and begins the next, in one transaction. */
  async sealIfFull(client: pg.Client, beforeCommit?: () => Promise<void>): Promise<void> {
    if (this.activeIds < this.generationIds) return;
    await this.prepareToSeal(client);
    await client.query('BEGIN');
    try {
      const sealed = await this.storeFilter(client);
      const next = this.active + 1;
      await client.query(`CREATE TABLE ${tableOf(next)} (LIKE event_ids)`);
      await client.query(
        `ALTER TABLE ${tableOf(next)} ALTER COLUMN generation SET DEFAULT ${next},
           ADD PRIMARY KEY (event_id)`,
      );
      await attach(client, next);
      await beforeCommit?.();
      await client.query('COMMIT');
      this.begin(sealed, next, 0);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /**
   * A bulk load's staged ids (distinct, and new) become the next generation, in the caller's
   * transaction: the newest is sealed, and the staging table is keyed, renamed and attached, so
   * no stored id is copied again. The migration's empty staging table is created anew. Call
   * prepareToSeal first, outside the transaction.
   */
  async adoptStaged(client: pg.Client): Promise<void> {
    const staged = await client.query('SELECT 1 FROM event_ids_staged LIMIT 1');
    if (staged.rows.length === 0) return;
    const sealed = await this.storeFilter(client);
    const next = this.active + 1;
    await client.query(`SET LOCAL maintenance_work_mem = '1GB'`); // the key's sort, in memory
    await client.query(
      `ALTER TABLE event_ids_staged ADD COLUMN generation int NOT NULL DEFAULT ${next}`,
    );
    await client.query(
      `ALTER TABLE event_ids_staged ADD CONSTRAINT ${tableOf(next)}_pkey PRIMARY KEY (event_id)`,
    );
    await client.query(`ALTER TABLE event_ids_staged RENAME TO ${tableOf(next)}`);
    await attach(client, next);
    // As the migration creates it (migrations/1700000000004_month-partitions.sql).
    await client.query('CREATE TABLE event_ids_staged (event_id uuid NOT NULL)');
    const size = await client.query<{ bytes: number }>(
      `SELECT pg_relation_size('${tableOf(next)}')::float8 AS bytes`,
    );
    this.begin(sealed, next, (size.rows[0]?.bytes ?? 0) / ID_TUPLE_BYTES);
  }

  /**
   * VACUUMs the newest generation (outside a transaction), so that its filter is read from its
   * unique index alone: without the visibility map, reading its ids in order fetches each one
   * from the heap, at random (bench/RESULTS.md).
   */
  async prepareToSeal(client: pg.Client): Promise<void> {
    await client.query(`VACUUM ${this.activeTable}`);
  }

  private begin(sealed: SealedGeneration, next: number, ids: number): void {
    this.sealed.push(sealed);
    this.active = next;
    this.activeIds = ids;
  }

  /**
   * Stores the newest generation's filter, one segment at a time: each a page of its ids in order
   * (a range of its unique index), so that one segment is held at a time. Reading the pages is
   * most of a seal's time, so a second connection reads the ids from a sampled median on, at once
   * (bench/RESULTS.md); its segments are numbered after the lower half's once both are stored.
   */
  private async storeFilter(client: pg.Client): Promise<SealedGeneration> {
    const generation = this.active;
    const store = (segment: number, page: FilterPage): Promise<unknown> =>
      client.query(
        `INSERT INTO event_id_filters (generation, segment, first_id, ids, bits)
         VALUES ($1, $2, $3, $4, $5)`,
        [generation, segment, uuidText(page.firstId, 0), page.ids, page.bits],
      );
    const median = await this.sampledMedian(client);
    const helper = median === null ? null : await this.pool.connect();
    const [lower, upper] = await allSettledOrFirstFailure([
      this.readPages(client, median === null ? '' : `event_id < '${median}'`, store),
      helper
        ? this.readPages(helper, `event_id >= '${median}'`, (j, page) => store(-1 - j, page))
        : Promise.resolve([]),
    ]).finally(() => helper?.release());
    if (upper.length > 0) {
      await client.query(
        `UPDATE event_id_filters SET segment = $2 - 1 - segment
         WHERE generation = $1 AND segment < 0`,
        [generation, lower.length],
      );
    }
    const firstIds = Buffer.concat([...lower, ...upper]);
    return { generation, firstIds, segments: firstIds.length / 16 };
  }

  /** The median id of a sample of the newest generation (null when the sample is empty). */
  private async sampledMedian(client: pg.Client): Promise<string | null> {
    const percent = Math.min(100, (100 * MEDIAN_SAMPLE_IDS) / Math.max(1, this.activeIds));
    const result = await client.query<{ median: string | null }>(
      `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY event_id) AS median
       FROM ${this.activeTable} TABLESAMPLE SYSTEM ($1)`,
      [percent],
    );
    return result.rows[0]?.median ?? null;
  }

  /**
   * Reads the newest generation's ids that meet `range` in pages of `segmentIds`, in order, and
   * stores each page's filter. Returns each page's first id. A page comes as one bytea of its ids
   * packed (string_agg): as rows, framing a million COPY messages cost the client more than
   * PostgreSQL's reading them.
   */
  private async readPages(
    connection: pg.ClientBase,
    range: string,
    store: (page: number, filter: FilterPage) => Promise<unknown>,
  ): Promise<Buffer[]> {
    const reader = new ByteaReader(this.segmentIds * 16);
    const hashes = new IdHashes(this.segmentIds);
    const firstIds: Buffer[] = [];
    for (let after: string | null = null; ;) {
      const where = [range, after ? `event_id > '${after}'` : ''].filter(Boolean).join(' AND ');
      const ids = await reader.read(
        connection,
        `SELECT string_agg(uuid_send(event_id), ''::bytea) FROM (
           SELECT event_id FROM ${this.activeTable} ${where ? `WHERE ${where}` : ''}
           ORDER BY event_id LIMIT ${this.segmentIds}) page`,
      );
      if (!ids || ids.length === 0) break;
      const count = ids.length / 16;
      hashes.fill(ids, count);
      const filter = new IdFilter(count);
      for (let k = 0; k < count; k++) filter.add(hashes, k);
      // The page is the next ids in order, but string_agg promises no order inside it.
      const { first, last } = extremes(ids, count);
      const firstId = Buffer.from(ids.subarray(first, first + 16));
      const bits = Buffer.from(filter.bytes.buffer, filter.bytes.byteOffset, filter.bytes.length);
      await store(firstIds.length, { firstId, ids: count, bits });
      firstIds.push(firstId);
      if (count < this.segmentIds) break;
      after = uuidText(ids, last);
    }
    return firstIds;
  }
}

/** The offsets of the first and the last in order of `count` packed ids (byte order, as uuids). */
export function extremes(ids: Buffer, count: number): { first: number; last: number } {
  let first = 0;
  let last = 0;
  let firstPrefix = ids.readUInt32BE(0);
  let lastPrefix = firstPrefix;
  for (let at = 16; at < count * 16; at += 16) {
    // The first 32 bits decide, unless they tie.
    const prefix = ids.readUInt32BE(at);
    if (
      prefix < firstPrefix ||
      (prefix === firstPrefix && ids.compare(ids, first, first + 16, at, at + 16) < 0)
    ) {
      first = at;
      firstPrefix = prefix;
    } else if (
      prefix > lastPrefix ||
      (prefix === lastPrefix && ids.compare(ids, last, last + 16, at, at + 16) > 0)
    ) {
      last = at;
      lastPrefix = prefix;
    }
  }
  return { first, last };
}

/**
 * Waits for both to end, so that neither writes after the caller rolls back, then throws the first
 * failure.
 */
async function allSettledOrFirstFailure<A, B>(reads: [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled(reads);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** A stored segment of a filter: its first id, how many ids it holds, and its bits. */
interface FilterPage {
  firstId: Buffer;
  ids: number;
  bits: Buffer;
}

async function attach(client: pg.Client, generation: number): Promise<void> {
  await client.query(
    `ALTER TABLE event_ids ATTACH PARTITION ${tableOf(generation)} FOR VALUES IN (${generation})`,
  );
}

/**
 * The ids' positions ordered by the segment of `generation` each falls in (a counting sort), and
 * where each segment's positions end.
 */
function groupBySegment(
  generation: SealedGeneration,
  ids: Buffer,
  count: number,
): { order: Int32Array; ends: Int32Array } {
  const starts = generation.firstIds;
  const startPrefixes = Uint32Array.from({ length: generation.segments }, (_, s) =>
    starts.readUInt32BE(s * 16),
  );
  const segmentOf = new Int32Array(count);
  const ends = new Int32Array(generation.segments);
  for (let k = 0; k < count; k++) {
    // The last segment whose first id is at most this one (the first takes smaller ones). The
    // ids' first 32 bits decide, unless they equal a segment start's.
    const prefix = ids.readUInt32BE(k * 16);
    let lo = 1;
    let hi = generation.segments;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const start = startPrefixes[mid] as number;
      const atOrAfter =
        start !== prefix
          ? start < prefix
          : starts.compare(ids, k * 16, k * 16 + 16, mid * 16, mid * 16 + 16) <= 0;
      if (atOrAfter) lo = mid + 1;
      else hi = mid;
    }
    segmentOf[k] = lo - 1;
    ends[lo - 1] = (ends[lo - 1] as number) + 1;
  }
  for (let s = 1; s < ends.length; s++) ends[s] = (ends[s] as number) + (ends[s - 1] as number);
  const order = new Int32Array(count);
  const next = Int32Array.from(ends, (_, s) => (s > 0 ? (ends[s - 1] as number) : 0)); // starts
  for (let k = 0; k < count; k++) {
    const s = segmentOf[k] as number;
    order[next[s] as number] = k;
    next[s] = (next[s] as number) + 1;
  }
  return { order, ends };
}

/**
 * Reads the one bytea a query selects by a binary COPY (as text it would be twice the bytes), into
 * one buffer reused from read to read. Null when the query selects no row or a null.
 */
class ByteaReader {
  private buffer: Buffer;

  /** `capacity`: the bytes expected, so that the buffer is not grown past them by doubling. */
  constructor(capacity = 0) {
    this.buffer = Buffer.alloc(capacity > 0 ? capacity + COPY_OVERHEAD_BYTES : 0);
  }

  async read(client: pg.ClientBase, query: string): Promise<Buffer | null> {
    const stream = client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`));
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      if (this.buffer.length < length + chunk.length) {
        const grown = Buffer.alloc(Math.max(length + chunk.length, this.buffer.length * 2));
        this.buffer.copy(grown, 0, 0, length);
        this.buffer = grown;
      }
      chunk.copy(this.buffer, length);
      length += chunk.length;
    });
    await finished(stream);
    // Header, then a tuple (a 2-byte field count, a 4-byte length or -1 for null, the bytes), then
    // a 2-byte trailer; with no tuple, just the trailer.
    if (length < COPY_OVERHEAD_BYTES) return null;
    const bytes = this.buffer.readInt32BE(COPY_HEADER_BYTES + 2);
    if (bytes < 0) return null;
    return this.buffer.subarray(COPY_HEADER_BYTES + 6, COPY_HEADER_BYTES + 6 + bytes);
  }
}

/** What a binary COPY of one bytea adds to its bytes: header, field count, length, trailer. */
const COPY_OVERHEAD_BYTES = COPY_HEADER_BYTES + 2 + 4 + 2;
