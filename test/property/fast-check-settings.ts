import type fc from 'fast-check';

/**
 * One seed for every property of a test run. fast-check prints it (with the failing path) when a
 * property fails; `FC_SEED=<seed> npx vitest run <file>` replays exactly that run.
 */
export const SEED: number = process.env.FC_SEED
  ? Number(process.env.FC_SEED)
  : (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;

/** `FC_SCALE=10` runs every property ten times as often: a deeper search than the suite's. */
const SCALE = Number(process.env.FC_SCALE ?? 1);

/** Parameters for fc.assert: the shared seed and a run count sized to what one run costs. */
export function runs<T>(numRuns: number): fc.Parameters<T> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)) };
}
