import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { MAX_RECORD_BYTES, splitFirstRecord } from './csv-records.js';
import type { RunEnding } from './import-state.js';
import type { ParsedChunk } from './parsed-chunk.js';
import { openRegularFile } from './regular-file.js';
import { resolveHeader, type ColumnMap } from './row-rules.js';

/** A data file on disk: which files are data, their header, their hash, and whether it changed. */

export const FILE_PATTERN = /^activities_.*\.csv$/;
const READ_CHUNK_BYTES = 1 << 20;

export type ChunkPosition = Pick<ParsedChunk, 'consumedBytes' | 'line' | 'digest' | 'shrank'>;

/** The `activities_*.csv` files of a folder in file-name order, or the one file given. */
export async function listImportFiles(target: string): Promise<string[]> {
  const info = await stat(target);
  if (info.isFile()) return [path.resolve(target)];
  const entries = await readdir(target, { withFileTypes: true });
  // Regular files only (a FIFO would block its reader); a symbolic link is judged when opened.
  const names = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && FILE_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
  return names.map((n) => path.resolve(target, n));
}

/** SHA-256 of the file's first `upTo` bytes (all of them by default). */
export async function hashFile(file: string, upTo = Infinity): Promise<string> {
  const hash = createHash('sha256');
  // One buffer read into again and again (a read stream allocates one per read; see parser-thread).
  const hashBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  const handle = await openRegularFile(file);
  try {
    for (let left = upTo; left > 0;) {
      const want = Math.min(hashBuffer.length, left);
      const { bytesRead } = await handle.read(hashBuffer, 0, want, null);
      if (bytesRead === 0) break;
      hash.update(hashBuffer.subarray(0, bytesRead));
      left -= bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

export const statOrNull = (file: string): Promise<Stats | null> => stat(file).catch(() => null);

/**
 * A run is done only when the bytes it read are the file's whole content as it is now: same
 * size, same hash. Otherwise the file changed under the reader: the run ends 'changed' after its
 * last complete record, to be continued or replaced once the file is stable.
 */
export async function judgeEnd(
  file: string,
  before: { info: Stats; hash: string },
  endBytes: number,
  end: ChunkPosition,
): Promise<RunEnding> {
  const changed = (why: string): RunEnding => ({
    status: 'changed',
    message: `the file changed while it was imported (${why}); it is imported again once stable`,
    identity: null,
  });
  if (end.shrank) return changed('it shrank under the reader');
  const now = await statOrNull(file);
  if (!now?.isFile()) return changed('it is gone');
  if (now.size !== endBytes) return changed(`${endBytes} bytes read, ${now.size} there now`);
  const untouched = now.size === before.info.size && now.mtimeMs === before.info.mtimeMs;
  const hash = untouched && end.digest === before.hash ? before.hash : await hashFile(file);
  if (hash !== end.digest) return changed('its content differs from what was read');
  return {
    status: 'done',
    message: null,
    identity: { fileSize: now.size, fileMtime: now.mtime, fileHash: hash },
  };
}

type HeaderResult =
  | { ok: true; columns: ColumnMap; bytes: number; nextLine: number }
  | { ok: false; message: string };

/** Reads the header record (after a BOM and blank lines) and finds where the data starts. */
export async function readHeader(file: string): Promise<HeaderResult> {
  const handle = await openRegularFile(file);
  try {
    const buffer = Buffer.alloc(MAX_RECORD_BYTES + 4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    let bytes = buffer.subarray(0, bytesRead);
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    bytes = bytes.subarray(bom);
    const atEnd = bytesRead < buffer.length;
    // Decode only up to the last complete line, so a multi-byte character is never cut.
    const lastNewline = bytes.lastIndexOf(10);
    const usable = atEnd ? bytes : bytes.subarray(0, lastNewline + 1);
    const first = splitFirstRecord(usable.toString('latin1'), atEnd);
    if (!first) {
      return {
        ok: false,
        message: atEnd
          ? 'the file is empty: no header line'
          : 'the header line is longer than 64 KiB',
      };
    }
    if (!isUtf8(usable.subarray(0, first.end)))
      return { ok: false, message: 'the header is not valid UTF-8' };
    const header = splitFirstRecord(usable.subarray(0, first.end).toString('utf8'), true);
    const verdict = resolveHeader(header?.fields ?? []);
    if (!verdict.ok)
      return { ok: false, message: `missing required column(s): ${verdict.missing.join(', ')}` };
    return { ok: true, columns: verdict.columns, bytes: bom + first.end, nextLine: first.nextLine };
  } finally {
    await handle.close();
  }
}
