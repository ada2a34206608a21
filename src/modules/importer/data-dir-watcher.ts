import path from 'node:path';
import { watch } from 'chokidar';
import { FILE_PATTERN } from './data-file.js';

/** How long a file's size must stay the same before it counts as fully written. */
const WRITE_SETTLE_MS = 1000;

/**
 * Calls `onFile` for each `activities_*.csv` file that appears or changes in `dataDir` (not its
 * sub-folders) once it has stopped growing, so a file still being copied is not imported half-way.
 * chokidar does the settling (awaitWriteFinish) and smooths over platform differences of fs.watch.
 * Resolves, once the watcher has scanned the folder, to a function that stops watching.
 */
export async function watchDataDir(
  dataDir: string,
  onFile: (file: string) => void,
  onError: (error: unknown) => void,
): Promise<() => Promise<void>> {
  const watcher = watch(dataDir, {
    ignoreInitial: true, // the start-up import has already taken what is there
    depth: 0,
    ignored: (file, stats) => stats?.isFile() === true && !FILE_PATTERN.test(path.basename(file)),
    awaitWriteFinish: { stabilityThreshold: WRITE_SETTLE_MS, pollInterval: 100 },
  });
  const take = (file: string): void => {
    if (FILE_PATTERN.test(path.basename(file))) onFile(path.resolve(file));
  };
  watcher.on('add', take).on('change', take).on('error', onError);
  await new Promise<void>((resolve) => watcher.once('ready', resolve));
  return () => watcher.close();
}
