import type { Writable } from 'node:stream';
import { AppcError } from '../errors.js';

/**
 * Writes to a caller's stream with backpressure, turning its failures into errors of the write that meets
 * them. Listens for 'error' from construction to `release()`, so a failing sink never crashes the process.
 */
export class SinkWriter {
  private error: unknown;
  private readonly onError = (err: unknown): void => {
    this.error ??= err;
  };

  constructor(
    private readonly sink: NodeJS.WritableStream,
    private readonly source: string,
  ) {
    sink.on('error', this.onError);
  }

  async write(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    const w = this.sink as Partial<Writable>;
    if (w.destroyed === true || w.writableEnded === true) {
      throw new AppcError('APPC_IO', `${this.source}: the sink was closed before the archive was read`, { source: this.source });
    }
    if (this.sink.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.sink.removeListener('drain', done);
        this.sink.removeListener('error', done);
        this.sink.removeListener('close', done);
        if (this.error !== undefined) reject(this.error);
        else resolve();
      };
      this.sink.on('drain', done);
      this.sink.on('error', done);
      this.sink.on('close', done);
    });
  }

  throwIfFailed(): void {
    if (this.error !== undefined) throw this.error;
  }

  release(): void {
    this.sink.removeListener('error', this.onError);
  }
}
