import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PIN = fileURLToPath(new URL('../../src/pin-tick-object.ts', import.meta.url));

/**
 * In a fresh process: (optionally) pin, let nextTick run enough for V8 to give it feedback, let
 * every queue entry die, collect garbage twice, run nextTick again, then print the states V8
 * recorded for the four property definitions of nextTick's queue-entry literal (V8 prints them
 * with its feedback vector).
 */
const SCRIPT = `
const burst = (n) => { for (let i = 0; i < n; i++) process.nextTick(() => {}); };
const report = () => %DebugPrint(process.nextTick); // to stdout, from C++
(process.env.PIN ? import(process.env.PIN) : Promise.resolve()).then(() => {
  burst(2000);
  setTimeout(() => {
    gc();
    gc();
    burst(10);
    setTimeout(report, 10);
  }, 10);
});
`;

function definitionStates(pin: boolean): string[] {
  // To a file: read from a pipe inside a vitest worker, V8's print came back cut short.
  const dir = mkdtempSync(join(tmpdir(), 'pin-tick-'));
  const file = join(dir, 'debug-print.txt');
  try {
    const stdout = openSync(file, 'w');
    execFileSync(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', '--allow-natives-syntax', '-e', SCRIPT],
      { env: { ...process.env, PIN: pin ? PIN : '' }, stdio: ['ignore', stdout, 'inherit'] },
    );
    closeSync(stdout);
    // e.g. " - slot #52 DefineKeyedOwnPropertyInLiteral MEGAMORPHIC {"
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes(' DefineKeyedOwnPropertyInLiteral '))
      .map((line) => line.trim().split(/\s+/)[4] as string);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('pinning a nextTick queue entry', () => {
  it('keeps V8 from turning nextTick megamorphic after a full collection', () => {
    // The failure the pin prevents, on this Node: no pin, and the collection makes them megamorphic.
    expect(definitionStates(false)).toContain('MEGAMORPHIC');
    expect(definitionStates(true)).toEqual([
      'MONOMORPHIC',
      'MONOMORPHIC',
      'MONOMORPHIC',
      'MONOMORPHIC',
    ]);
  });
});
