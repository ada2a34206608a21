import type pg from 'pg';

/**
 * Citus's rules for a schema, as its DDL reference states them: a distributed table's primary
 * keys and unique constraints include its distribution column; foreign keys run between two
 * local tables, two reference tables, two co-located distributed tables (through the
 * distribution column), or from a distributed (or local) table to a reference table; co-located
 * tables are distributed by columns of one type.
 */

export type Placement =
  { kind: 'distributed'; column: string; colocateWith: string | null } | { kind: 'reference' };

/** The placements a distribution script declares: create_distributed_table / _reference_table. */
export function parsePlacements(sql: string): Map<string, Placement> {
  const placements = new Map<string, Placement>();
  const code = sql.replace(/--.*$/gm, '');
  for (const m of code.matchAll(
    /create_distributed_table\(\s*'(\w+)'\s*,\s*'(\w+)'(?:\s*,\s*colocate_with\s*=>\s*'(\w+)')?\s*\)/g,
  )) {
    placements.set(m[1]!, { kind: 'distributed', column: m[2]!, colocateWith: m[3] ?? null });
  }
  for (const m of code.matchAll(/create_reference_table\(\s*'(\w+)'\s*\)/g)) {
    placements.set(m[1]!, { kind: 'reference' });
  }
  return placements;
}

export interface Catalog {
  tables: string[];
  /** table -> column -> { type, notNull } */
  columns: Map<string, Map<string, { type: string; notNull: boolean }>>;
  uniques: Array<{ table: string; name: string; columns: string[] }>;
  foreignKeys: Array<{
    table: string;
    name: string;
    columns: string[];
    references: string;
    referencedColumns: string[];
  }>;
}

/**
 * The public schema's tables, columns, unique indexes and foreign keys. A partition is placed with
 * its parent, so it is not a table of its own here, and its unique indexes count as its parent's.
 */
export async function readCatalog(client: pg.ClientBase): Promise<Catalog> {
  const tables = (
    await client.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition
        ORDER BY 1`,
    )
  ).rows.map((r) => r.name);
  const columns = new Map<string, Map<string, { type: string; notNull: boolean }>>();
  const columnRows = await client.query<{
    table: string;
    column: string;
    type: string;
    not_null: boolean;
  }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped`,
  );
  for (const r of columnRows.rows) {
    if (!columns.has(r.table)) columns.set(r.table, new Map());
    columns.get(r.table)!.set(r.column, { type: r.type, notNull: r.not_null });
  }
  const uniques = (
    await client.query<{ table: string; name: string; columns: string[] }>(
      `SELECT coalesce(p.relname, c.relname) AS table, i.indexrelid::regclass::text AS name,
              array_agg(a.attname::text ORDER BY k.ord) AS columns
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         LEFT JOIN pg_inherits h ON h.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = h.inhparent
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND i.indisunique
        GROUP BY 1, 2`,
    )
  ).rows;
  const foreignKeys = (
    await client.query<Catalog['foreignKeys'][number]>(
      `SELECT c.conrelid::regclass::text AS table, c.conname AS name,
              c.confrelid::regclass::text AS references,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS columns,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS "referencedColumns"
         FROM pg_constraint c
        WHERE c.connamespace = 'public'::regnamespace AND c.contype = 'f'`,
    )
  ).rows;
  return { tables, columns, uniques, foreignKeys };
}

/** Every breach of Citus's rules by this schema under these placements, one line each. */
export function lintForCitus(
  catalog: Catalog,
  placements: Map<string, Placement>,
  localTables: readonly string[],
): string[] {
  const findings: string[] = [];
  const placementOf = (table: string): Placement | 'local' | undefined =>
    localTables.includes(table) ? 'local' : placements.get(table);

  for (const table of catalog.tables) {
    if (placementOf(table) === undefined) findings.push(`${table}: no placement declared`);
  }
  for (const table of placements.keys()) {
    if (!catalog.tables.includes(table)) findings.push(`${table}: placed but not in the schema`);
  }
  for (const [table, p] of placements) {
    if (p.kind !== 'distributed' || !catalog.tables.includes(table)) continue;
    const column = catalog.columns.get(table)?.get(p.column);
    if (!column) findings.push(`${table}: no distribution column ${p.column}`);
    else if (!column.notNull) findings.push(`${table}.${p.column}: distribution column nullable`);
    if (p.colocateWith !== null) {
      const other = placements.get(p.colocateWith);
      const otherType =
        other?.kind === 'distributed'
          ? catalog.columns.get(p.colocateWith)?.get(other.column)?.type
          : undefined;
      if (otherType === undefined || otherType !== column?.type)
        findings.push(`${table}: cannot be co-located with ${p.colocateWith}`);
    }
  }
  for (const u of catalog.uniques) {
    const p = placements.get(u.table);
    if (p?.kind === 'distributed' && !u.columns.includes(p.column))
      findings.push(`${u.table}: unique ${u.name} (${u.columns.join(', ')}) lacks ${p.column}`);
  }
  for (const fk of catalog.foreignKeys) {
    const from = placementOf(fk.table);
    const to = placementOf(fk.references);
    const problem = foreignKeyProblem(fk, from, to, placements);
    if (problem) findings.push(`${fk.table}: foreign key ${fk.name} ${problem}`);
  }
  return findings;
}

function foreignKeyProblem(
  fk: Catalog['foreignKeys'][number],
  from: Placement | 'local' | undefined,
  to: Placement | 'local' | undefined,
  placements: Map<string, Placement>,
): string | null {
  if (from === undefined || to === undefined) return null; // reported as undeclared
  if (to !== 'local' && to.kind === 'reference') return null; // anything may point at a reference table
  if (from === 'local' && to === 'local') return null;
  if (from === 'local' || to === 'local') return 'joins a local table to a distributed one';
  if (from.kind === 'reference') return 'points from a reference table to a distributed one';
  if (to.kind !== 'distributed') return null;
  if (colocationGroup(fk.table, placements) !== colocationGroup(fk.references, placements))
    return `points at ${fk.references}, which is not co-located`;
  const at = fk.columns.indexOf(from.column);
  if (at === -1 || fk.referencedColumns[at] !== to.column)
    return 'does not pair the two distribution columns';
  return null;
}

/** The table that heads a table's co-location group (tables placed without colocate_with head one). */
function colocationGroup(table: string, placements: Map<string, Placement>): string {
  const p = placements.get(table);
  return p?.kind === 'distributed' && p.colocateWith !== null
    ? colocationGroup(p.colocateWith, placements)
    : table;
}
