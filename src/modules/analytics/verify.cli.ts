import { loadConfigFromProcess } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { AnswerCache } from './analytics.cache.js';
import { verifyAnswers } from './verify.js';

/** `npm run verify`: the five answers from the rollups against the same figures from the facts. */
const config = loadConfigFromProcess();
const database = await openDatabase({ databaseUrl: config.databaseUrl });
try {
  const results = await verifyAnswers(database.pool, new AnswerCache(database.pool));
  for (const r of results) {
    console.log(`${r.match ? 'OK      ' : 'MISMATCH'} ${r.query}`);
    if (!r.match) console.log(`  served:     ${r.served}\n  recomputed: ${r.recomputed}`);
  }
  const bad = results.filter((r) => !r.match).length;
  console.log(
    bad === 0 ? 'all five answers match the facts' : `${bad} answer(s) differ from the facts`,
  );
  process.exitCode = bad === 0 ? 0 : 1;
} finally {
  await database.close();
}
