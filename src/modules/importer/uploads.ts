import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../errors.js';
import { listImportFiles } from './data-file.js';

const UPLOAD_NAME = /^activities_[A-Za-z0-9._-]{1,120}\.csv$/;

export interface StoredUpload {
  file: string;
  fileName: string;
  size: number;
  mtime: Date;
  hash: string;
}

/** The name an upload is kept (and shown in the ledger) under; 400 for one that is not a data file. */
export function uploadName(given: string | undefined, now = new Date()): string {
  if (given === undefined || given === '') {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    return `activities_upload_${stamp}_${randomBytes(3).toString('hex')}.csv`;
  }
  if (!UPLOAD_NAME.test(given))
    throw new AppError(
      'bad_request',
      400,
      'the file name must look like activities_YYYYMMDD.csv (letters, digits, ".", "_" or "-")',
    );
  return given;
}

/**
 * Streams an upload to `<uploadDir>/<uuid>/<name>`, hashing it on the way, and makes it visible
 * under its name only once complete. Past `maxBytes` it stops with 413 and keeps nothing.
 */
export async function storeUpload(
  source: Readable,
  uploadDir: string,
  fileName: string,
  maxBytes: number,
): Promise<StoredUpload> {
  const folder = path.resolve(uploadDir, randomUUID());
  await mkdir(folder, { recursive: true });
  const partial = path.join(folder, `${fileName}.part`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes)
        return done(
          new AppError('payload_too_large', 413, `uploads are limited to ${maxBytes} bytes`),
        );
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(partial));
    const file = path.join(folder, fileName);
    await rename(partial, file);
    const info = await stat(file);
    return { file, fileName, size: info.size, mtime: info.mtime, hash: hash.digest('hex') };
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}

/** Every stored upload, so that one accepted before a restart is imported after it. */
export async function listStoredUploads(uploadDir: string): Promise<string[]> {
  if (!existsSync(uploadDir)) return [];
  const folders = await readdir(uploadDir, { withFileTypes: true });
  const files = await Promise.all(
    folders
      .filter((f) => f.isDirectory())
      .map((f) => listImportFiles(path.join(uploadDir, f.name))),
  );
  return files.flat(); // listImportFiles keeps activities_*.csv only
}
