import type pg from 'pg';
import { monthText } from '../analytics/analytics.definitions.js';

/**
 * The month partitions of activities (by event_at, UTC), one table per yyyymm month. A new month
 * is created as a plain table and attached: ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock
 * on activities, which readers and writers pass, where CREATE TABLE … PARTITION OF would take
 * ACCESS EXCLUSIVE. Both run inside the caller's transaction, so a rollback removes the month.
 */

export const partitionName = (month: number): string =>
  `activities_${monthText(month).replace('-', '_')}`;

/** The first instant of a yyyymm month, UTC, as PostgreSQL reads it. */
export const monthStart = (month: number): string => `${monthText(month)}-01 00:00:00+00`;

export function nextMonth(month: number): number {
  return month % 100 === 12 ? month + 89 : month + 1;
}

/** The months (yyyymm) activities has a partition for, ascending. */
export async function storedMonths(db: Pick<pg.Client, 'query'>): Promise<number[]> {
  const result = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'activities'::regclass`,
  );
  return result.rows
    .map((r) => /^activities_(\d{4})_(\d{2})$/.exec(r.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]) * 100 + Number(m[2]))
    .sort((a, b) => a - b);
}

/** Creates and attaches the partition of `month`, inside the caller's transaction. */
export async function createMonthPartition(
  client: Pick<pg.Client, 'query'>,
  month: number,
): Promise<void> {
  const name = partitionName(month);
  await client.query(`CREATE TABLE ${name} (LIKE activities INCLUDING ALL)`);
  await client.query(
    `ALTER TABLE activities ATTACH PARTITION ${name}
     FOR VALUES FROM ('${monthStart(month)}') TO ('${monthStart(nextMonth(month))}')`,
  );
}

/**
 * The importer's view of which months have a partition: those committed, and those created by the
 * open transaction (forgotten if it rolls back).
 */
export class MonthPartitions {
  private committed: Set<number> | null = null;
  private created = new Set<number>();

  /** `attached` is called after each month created (fault-injection tests). */
  constructor(private readonly attached?: () => Promise<void>) {}

  /** Creates, in the open transaction, the partitions of the months that lack one. */
  async ensure(client: pg.Client, months: Iterable<number>): Promise<void> {
    this.committed ??= new Set(await storedMonths(client));
    for (const month of months) {
      if (this.committed.has(month) || this.created.has(month)) continue;
      await createMonthPartition(client, month);
      this.created.add(month);
      await this.attached?.();
    }
  }

  afterCommit(): void {
    for (const month of this.created) this.committed?.add(month);
    this.created.clear();
  }

  afterRollback(): void {
    this.created.clear();
    this.committed = null; // another process (archive) may have changed them meanwhile
  }
}
