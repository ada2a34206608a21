/**
 * Test hook for the fault-injection tests (test/integration/faults.test.ts), inert in production.
 * IMPORTER_CRASH_AT=<point>:<n> makes the importing process kill itself with SIGKILL (no clean-up
 * at all, like a power cut or the OOM killer) the n-th time it reaches crashPoint('<point>').
 * The variable is read once, at load; unset, a call is one string comparison.
 */
const spec = /^([a-z-]+):([1-9][0-9]*)$/.exec(process.env.IMPORTER_CRASH_AT ?? '');
const armedPoint = spec?.[1];
let remaining = Number(spec?.[2] ?? 0);

/** True while `point` is armed and has not fired yet: lets a caller stage a partial write first. */
export function crashArmed(point: string): boolean {
  return point === armedPoint && remaining > 0;
}

export function crashPoint(point: string): void {
  if (point !== armedPoint || --remaining !== 0) return;
  process.kill(process.pid, 'SIGKILL');
}
