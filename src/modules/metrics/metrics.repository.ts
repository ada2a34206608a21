import type pg from 'pg';

export interface LedgerTotals {
  inserted: number;
  duplicate: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
}

/** Row totals over the whole ledger: every process's imports, not only this one's. */
export async function readLedgerTotals(db: pg.Pool): Promise<LedgerTotals> {
  const totals = await db.query<{ inserted: number; duplicate: number; rejected: number }>(
    `SELECT coalesce(sum(rows_inserted), 0)::float8 AS inserted,
            coalesce(sum(rows_duplicate), 0)::float8 AS duplicate,
            coalesce(sum(rows_rejected), 0)::float8 AS rejected
       FROM import_runs`,
  );
  const reasons = await db.query<{ reason: string; rows: number }>(
    `SELECT r.key AS reason, sum(r.value::bigint)::float8 AS rows
       FROM import_runs, jsonb_each_text(rejects_by_reason) AS r
      GROUP BY r.key`,
  );
  const row = totals.rows[0] ?? { inserted: 0, duplicate: 0, rejected: 0 };
  return {
    ...row,
    rejectedByReason: Object.fromEntries(reasons.rows.map((r) => [r.reason, r.rows])),
  };
}
