import { pino, type Logger } from 'pino';

/** A line waits at most this long in the buffer when the service is quiet. */
const FLUSH_EVERY_MS = 1000;

/**
 * The service's logger: JSON lines to stdout through pino's buffered destination, written in
 * blocks of at least 4 KiB (one write per line cost half the throughput of a cached answer; see
 * bench/RESULTS.md), flushed every second and, by pino, at exit. A SIGKILL loses at most the last
 * second of lines.
 */
export function createLogger(level: string): { log: Logger; stop(): void } {
  const log = pino({ level }, pino.destination({ sync: false, minLength: 4096 }));
  const timer = setInterval(() => log.flush(), FLUSH_EVERY_MS).unref();
  return {
    log,
    stop() {
      clearInterval(timer);
      log.flush();
    },
  };
}
