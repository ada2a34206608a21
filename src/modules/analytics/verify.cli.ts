import { parseArgs } from 'node:util';
import { loadConfigFromProcess } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { nextMonth } from '../importer/month-partitions.js';
import { monthText, parseMonth } from './analytics.definitions.js';
import { AnswerCache } from './analytics.cache.js';
import { ALL_MONTHS } from './analytics.repository.js';
import { verifyAnswers } from './verify.js';

/**
 * `npm run verify [-- --from YYYY-MM] [--to YYYY-MM]`: the five answers from the rollups against
 * the same figures from the facts, over a month range. Archived months have no facts to compare:
 * by default the range starts after the last of them.
 */
const USAGE = 'usage: npm run verify [-- --from YYYY-MM] [--to YYYY-MM]';
let values: { from?: string; to?: string } = {};
try {
  ({ values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } }));
} catch {
  console.error(USAGE);
  process.exit(2);
}
const asked = (text: string | undefined, name: string): number | undefined => {
  if (text === undefined) return undefined;
  const month = parseMonth(text);
  if (month === null) {
    console.error(`--${name} must be a month, YYYY-MM, got "${text}"`);
    process.exit(2);
  }
  return month;
};
const from = asked(values.from, 'from');
const to = asked(values.to, 'to') ?? ALL_MONTHS.to;
const config = loadConfigFromProcess();
const database = await openDatabase({ databaseUrl: config.databaseUrl });
try {
  const archived = (
    await database.pool.query<{ month: number }>(
      'SELECT DISTINCT month FROM archived_months ORDER BY month',
    )
  ).rows.map((r) => r.month);
  const lastArchived = archived.at(-1);
  const range = {
    from: from ?? (lastArchived === undefined ? ALL_MONTHS.from : nextMonth(lastArchived)),
    to,
  };
  const inRange = archived.filter((m) => m >= range.from && m <= range.to);
  if (inRange.length > 0) {
    const months = inRange.map(monthText).join(', ');
    console.error(`months ${months} are archived: restore them or verify another range`);
    process.exitCode = 2;
  } else {
    const results = await verifyAnswers(database.pool, new AnswerCache(database.pool), range);
    for (const r of results) {
      console.log(`${r.match ? 'OK      ' : 'MISMATCH'} ${r.query}`);
      if (!r.match) console.log(`  served:     ${r.served}\n  recomputed: ${r.recomputed}`);
    }
    const bad = results.filter((r) => !r.match).length;
    console.log(
      bad === 0 ? 'all five answers match the facts' : `${bad} answer(s) differ from the facts`,
    );
    process.exitCode = bad === 0 ? 0 : 1;
  }
} finally {
  await database.close();
}
