import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { sniffCompression } from './layer-stream.js';

/** Bytes that tell a compression from a plain tar (xz's magic is the longest). */
const HEAD = 6;
/**
 * Served bytes handed to the inflater at once: each write is a round trip to zlib's thread, and a TLS body
 * arrives in 16 KiB records.
 */
const BATCH = 512 << 10;

/**
 * Writes a layer blob to a file as a plain tar while it downloads, so the converter never inflates it (it
 * would twice: once for the headers, once for the contents) and skips member contents by position. gzip is
 * inflated on zlib's thread while this one hashes; the compression is told by the first bytes, as Docker
 * tells it (a media type can be wrong); the sha256 of the tar written (the layer's diff_id) is taken on the
 * way. An inflate failure does not stop the download: the blob's own digest, known at its end, is the better
 * story when the registry sent a corrupt copy, so `end` reports it only after the caller checked that digest.
 */
export class TarSink {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private entry: Writable | undefined;
  private done: Promise<void> = Promise.resolve();
  /** The first failure of the inflate or the file write. */
  private failure: unknown;
  private readonly diff = createHash('sha256');
  private written = 0;
  compression: 'gzip' | 'none' | undefined;

  /** `refuse` names a compression other than gzip (zstd, xz, bzip2): the caller's error for it. */
  constructor(private readonly fh: FileHandle, private readonly refuse: (compression: string) => Error) {}

  /** A chunk of the blob as served; the promise (if any) is backpressure. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== undefined && !isInflateError(this.failure)) throw this.failure;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.entry === undefined && this.pendingLength >= HEAD) this.start();
    if (this.entry === undefined || this.pendingLength < BATCH) return undefined;
    return this.flush();
  }

  private flush(): Promise<void> | undefined {
    const data = Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    if (this.failure !== undefined || data.length === 0 || this.entry === undefined) return undefined;
    if (this.entry.write(data)) return undefined;
    return new Promise<void>((resolve) => {
      this.entry?.once('drain', resolve);
      // A failed pipeline never drains: its failure is said on the next write or at the end.
      void this.done.then(resolve);
    });
  }

  /** After the whole blob: waits for the file to have every byte; the tar's digest and size, or the failure. */
  async end(): Promise<{ diffId: string; size: number }> {
    if (this.entry === undefined) this.start();
    await this.flush();
    if (this.entry?.destroyed === false) this.entry.end();
    await this.done;
    if (this.failure !== undefined) throw this.failure;
    return { diffId: `sha256:${this.diff.digest('hex')}`, size: this.written };
  }

  /** Stops everything (a failed download): nothing more is written; the caller closes and removes the file. */
  async destroy(): Promise<void> {
    this.entry?.destroy();
    await this.done;
  }

  private start(): void {
    const found = sniffCompression(Buffer.concat(this.pending, this.pendingLength).subarray(0, HEAD));
    if (found !== undefined && found !== 'gzip') throw this.refuse(found);
    this.compression = found ?? 'none';
    // A Writable with writev: what arrives while a write is under way goes in the next one, as one batch.
    const file = new Writable({
      highWaterMark: 1 << 20,
      writev: (chunks, cb) => {
        const parts = chunks.map((c) => c.chunk as Buffer);
        for (const p of parts) this.diff.update(p);
        const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        this.written += data.length;
        this.fh.write(data).then(() => cb(), cb);
      },
    });
    if (this.compression === 'gzip') {
      const gunzip = createGunzip({ chunkSize: 1 << 16 });
      this.entry = gunzip;
      this.done = pipeline(gunzip, file).catch((err: unknown) => void (this.failure ??= err));
    } else {
      this.entry = file;
      this.done = new Promise<void>((resolve) => {
        file.on('finish', resolve);
        file.on('error', (err) => resolve(void (this.failure ??= err)));
        file.on('close', resolve);
      });
    }
  }
}

/** zlib's errors: the blob is not the gzip it looks like (or is cut short); the blob's digest is checked first. */
export function isInflateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}
