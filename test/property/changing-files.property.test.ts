/**
 * Property (issue 21, "Done when"): writers that pause, rewrite, truncate and append at random
 * moments in a watched DATA_DIR. Every state a writer leaves a file in is a prefix of the file's
 * final content (a slow or paused writer, a rewrite of the same content, a truncation written
 * back), and no writer stays still for as long as the settle time in the middle of a row. Once
 * everything has settled, the stored facts and rollups must be those of one clean import of the
 * final files, every run must balance, and a run is done only with the whole file committed.
 */
import { open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { generateFiles } from '../../bench/generate.js';
import { startService, type Service } from '../../src/service.js';
import {
  expectFiguresOfOneCleanImport,
  expectLedgerHolds,
  waitUntilSettled,
  watchedConfig,
} from '../changing-files-helpers.js';
import { sleep } from '../fault-helpers.js';
import { createTestDatabase, tempDir } from '../helpers.js';
import { runs } from './fast-check-settings.js';

/** How long a file must stay the same before its unterminated last line is taken. */
const SETTLE_MS = 3000;
/** The longest a writer stays still: below the settle time, above the watcher's 1 s. */
const MAX_PAUSE_MS = 1300;
const REWRITE_CHUNK = 1 << 20;

type Op = 'append' | 'truncate' | 'rewrite' | 'touch';
interface Step {
  op: Op;
  /** Where the step cuts: a share of what is left to write (append) or of what is there. */
  at: number;
  pauseMs: number;
}
interface Writer {
  target: number;
  /** Share of the content already there when the service starts (null: the file comes later). */
  present: number | null;
  delayMs: number;
  steps: Step[];
  /** Whether the final content ends with a line break. */
  lineBreak: boolean;
}

const share = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);
const step: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom<Op>('append', 'append', 'append', 'truncate', 'rewrite', 'touch'),
  at: share,
  pauseMs: fc.integer({ min: 0, max: MAX_PAUSE_MS }),
});
const writer = (target: number): fc.Arbitrary<Writer> =>
  fc.record({
    target: fc.constant(target),
    present: fc.option(share, { nil: null, freq: 2 }),
    delayMs: fc.integer({ min: 0, max: 800 }),
    steps: fc.array(step, { minLength: 1, maxLength: 5 }),
    lineBreak: fc.boolean(),
  });
const scenario: fc.Arbitrary<Writer[]> = fc
  .subarray([0, 1, 2], { minLength: 1 })
  .chain((targets) => fc.tuple(...targets.map(writer)));

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * Final contents: three independent generated files (their own seeds, so that no event id is in
 * two files and the order files are imported in does not matter), dirty (rejects, warnings,
 * in-file duplicates, quoted fields, a BOM); the second with CRLF line breaks.
 */
let targets: Buffer[];
beforeAll(async () => {
  const sizes = [3000, 8000, 20_000];
  targets = await Promise.all(
    sizes.map(async (rows, i) => {
      const dir = await tempDir();
      tempDirs.push(dir);
      const { files } = await generateFiles({
        days: 1,
        rowsPerDay: rows,
        seed: 2700 + i,
        outDir: dir,
        startDate: ['2024-01-30', '2024-03-15', '2024-06-01'][i],
      });
      const bytes = await readFile(path.join(dir, files[0] as string));
      const text = bytes.toString('latin1').replace(/\r?\n$/, '');
      return Buffer.from(i === 1 ? text.replace(/\r?\n/g, '\r\n') : text, 'latin1');
    }),
  );
});

function finalContent(w: Writer): Buffer {
  const base = targets[w.target] as Buffer;
  const eol = w.target === 1 ? '\r\n' : '\n';
  return w.lineBreak ? Buffer.concat([base, Buffer.from(eol)]) : base;
}

const fileOf = (dataDir: string, w: Writer): string =>
  path.join(dataDir, `activities_p${w.target}.csv`);

/** Writes the file through the writer's steps to its final content; every step changes the file. */
async function write(file: string, content: Buffer, w: Writer, length: number): Promise<void> {
  const append = async (to: number): Promise<void> => {
    const handle = await open(file, 'a');
    try {
      await handle.write(content, length, to - length);
    } finally {
      await handle.close();
    }
    length = to;
  };
  await sleep(w.delayMs);
  for (const s of w.steps) {
    let op = s.op;
    if (op !== 'append' && length === 0) op = 'append';
    if (op === 'append' && length === content.length) op = 'touch';
    if (op === 'truncate' && Math.floor(length * s.at) >= length) op = 'append';
    if (op === 'append') {
      const left = content.length - length;
      await append(length + Math.max(1, Math.round(left * s.at)));
    } else if (op === 'truncate') {
      const to = Math.floor(length * s.at);
      await truncate(file, to);
      length = to;
    } else if (op === 'rewrite') {
      // As a producer re-delivering the file in place: truncated, written again in steps.
      const handle = await open(file, 'w');
      try {
        for (let at = 0; at < length; at += REWRITE_CHUNK) {
          await handle.write(content, at, Math.min(REWRITE_CHUNK, length - at), at);
          await sleep(30);
        }
      } finally {
        await handle.close();
      }
    } else {
      // The same bytes written again over the end of what is there: a new mtime, same content.
      const handle = await open(file, 'r+');
      try {
        const from = Math.max(0, length - 4096);
        await handle.write(content, from, length - from, from);
      } finally {
        await handle.close();
      }
    }
    await sleep(s.pauseMs);
  }
  if (length < content.length) await append(content.length);
}

async function check(writers: Writer[]): Promise<void> {
  const db = await createTestDatabase();
  const dataDir = await tempDir();
  tempDirs.push(dataDir);
  const config = watchedConfig(db.url, dataDir, { settleMs: SETTLE_MS, batchRows: 2000 });
  let service: Service | undefined;
  try {
    const present = new Map<Writer, number>();
    for (const w of writers) {
      if (w.present === null) continue;
      const content = finalContent(w);
      const length = Math.floor(content.length * w.present);
      await writeFile(fileOf(dataDir, w), content.subarray(0, length));
      present.set(w, length);
    }
    service = await startService(config);
    // The writers go on at once, while the start-up import runs.
    await Promise.all(
      writers.map((w) =>
        write(
          fileOf(dataDir, w),
          finalContent(w),
          { ...w, delayMs: present.has(w) ? 0 : w.delayMs },
          present.get(w) ?? 0,
        ),
      ),
    );
    await service.startupImport;
    await waitUntilSettled(service, config, 45_000);
    await expectLedgerHolds(config);
    await expectFiguresOfOneCleanImport(config);
  } finally {
    await service?.close();
    await db.drop();
  }
}

describe('when writers pause, rewrite, truncate and append files in a watched DATA_DIR', () => {
  it('then, settled, the figures are those of one clean import of the final files and every run balances', async () => {
    await fc.assert(fc.asyncProperty(scenario, check), {
      ...runs<[Writer[]]>(3),
      // A run takes seconds: report the first failure as found rather than shrink it.
      endOnFailure: true,
    });
  }, 240_000);
});
