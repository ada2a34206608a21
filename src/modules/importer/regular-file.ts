import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** A data file that is not a regular file (a FIFO, a device, a folder): never read. */
export class NotRegularFileError extends Error {
  constructor(file: string) {
    super(`${path.basename(file)} is not a regular file`);
  }
}

/**
 * Opens a file for reading only if it is a regular file. O_NONBLOCK makes opening a FIFO return
 * at once (a plain open blocks until a writer appears); the check is on the opened descriptor, so
 * a file swapped after a stat() cannot slip through.
 */
export async function openRegularFile(file: string): Promise<FileHandle> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  const info = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (info.isFile()) return handle;
  await handle.close();
  throw new NotRegularFileError(file);
}
