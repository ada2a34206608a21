import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { CreditMessage, ParsedChunk, ParseRequest, ParserMessage } from './parsed-chunk.js';
import { startThread } from './threads.js';

/**
 * Parses files on a second thread (parser-thread.ts), so that reading, splitting and encoding
 * rows run on one core while this thread admits them and PostgreSQL loads them on the other:
 * parsing is most of the importer's time per row.
 */
export class FileParser {
  private readonly worker: Worker;
  private readonly inbox: ParserMessage[] = [];
  private waiting: (() => void) | null = null;
  private failure: Error | null = null;

  constructor() {
    // The thread keeps little alive (a few chunks): a small heap makes it collect early rather
    // than grow towards V8's default limit, which is sized from the machine's memory.
    this.worker = startThread('parser-thread', {
      maxOldGenerationSizeMb: 64,
      maxYoungGenerationSizeMb: 8,
    });
    this.worker.on('message', (message: ParserMessage) => this.deliver(message));
    this.worker.on('error', (error) => {
      this.failure ??= error;
      this.wake();
    });
    this.worker.on('exit', (code) => {
      this.failure ??= new Error(`the parsing thread stopped (exit code ${code})`);
      this.wake();
    });
  }

  /** The file's chunks from `request.start` on, in order; the last one is `final`. */
  async *chunks(request: Omit<ParseRequest, 'type'>): AsyncGenerator<ParsedChunk> {
    this.worker.postMessage({ type: 'file', ...request } satisfies ParseRequest);
    for (;;) {
      const message = await this.next();
      if (message.type === 'error')
        throw new Error(`reading ${path.basename(request.file)}: ${message.message}`);
      yield message.chunk;
      this.giveBack(message.chunk);
      if (message.chunk.final) return;
    }
  }

  /** The chunk's rows were taken (copied out): its buffers go back to be filled again. */
  private giveBack(chunk: ParsedChunk): void {
    const buffers = {
      encoded: chunk.encoded.buffer as ArrayBuffer,
      rowEnds: chunk.rowEnds.buffer as ArrayBuffer,
      facts: chunk.facts.buffer as ArrayBuffer,
    };
    this.worker.postMessage({ type: 'credit', buffers } satisfies CreditMessage, [
      buffers.encoded,
      buffers.rowEnds,
      buffers.facts,
    ]);
  }

  /** Ends the chunks being awaited with `error` (a shutdown while the parser waits on a file). */
  cancel(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private async next(): Promise<ParserMessage> {
    while (this.inbox.length === 0) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
    return this.inbox.shift() as ParserMessage;
  }

  private deliver(message: ParserMessage): void {
    this.inbox.push(message);
    this.wake();
  }

  private wake(): void {
    this.waiting?.();
    this.waiting = null;
  }
}
