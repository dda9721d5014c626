import { createHash, type Hash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { RangeDigests, type DigestRange } from './range-digests.js';

/**
 * The worker's whole program, evaluated from this string rather than loaded from a file: the CLI bundles
 * this package into its own command files, where no file of ours would sit next to the code (RangeDigests
 * comes in as its source text). Batches come in as transferred ArrayBuffers, with the ranges marked since
 * the last one, and go back the same way, to be filled again: no copy crosses the thread boundary, and no
 * new memory is allocated per batch. `process.getBuiltinModule` rather than `require`: the worker inherits
 * the parent's flags, and under `--input-type=module` its script is an ES module.
 */
export function workerSource(): string {
  return `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { createHash } = process.getBuiltinModule('node:crypto');
const RangeDigests = (${RangeDigests.toString()});
const hash = createHash(workerData.algorithm);
const ranges = workerData.ranges === undefined ? undefined : new RangeDigests(createHash, workerData.ranges);
parentPort.on('message', (m) => {
  if (m === null) {
    parentPort.postMessage({ hex: hash.digest('hex'), ranges: ranges === undefined ? [] : ranges.done });
    return;
  }
  const bytes = new Uint8Array(m.buffer, 0, m.length);
  hash.update(bytes);
  if (ranges !== undefined) {
    ranges.add(m.ranges);
    ranges.update(bytes);
  }
  parentPort.postMessage(m.buffer, [m.buffer]);
});
`;
}

export interface OffloadedHashOptions {
  /** Bytes sent to the worker at a time (default 4 MiB): a message per batch, not per chunk. */
  readonly batchBytes?: number;
  /** Batches in flight at most (default 4); `update` waits for one to come back beyond that. */
  readonly maxBatches?: number;
  /** Also digest the ranges given to `markRange` on their own, with this algorithm (e.g. `sha256`). */
  readonly ranges?: string;
}

export interface OffloadedDigest {
  readonly hex: string;
  /** Range id -> hex digest, for every marked range that was hashed whole. */
  readonly ranges: ReadonlyMap<number, string>;
}

const DEFAULT_BATCH = 4 << 20;
const DEFAULT_MAX_BATCHES = 4;

/**
 * A node:crypto hash computed on a worker thread, so that hashing a large stream (SHA-512 of an image
 * costs about 1 s of CPU here: this CPU has no SHA-512 instructions) overlaps the caller's own work
 * instead of adding to it. Chunks are copied into large reusable batches; a stream shorter than one batch
 * is hashed on the calling thread when the digest is asked for, and never starts a worker. The digest is
 * node:crypto's, byte for byte.
 *
 * `update` returns a promise when every batch is in flight: await it before the next `update` (it is the
 * backpressure). `close` must follow, on success and failure alike: it stops the worker.
 *
 * @example
 * const h = new OffloadedHash('sha512');
 * try {
 *   for await (const chunk of stream) await h.update(chunk);
 *   const hex = await h.digestHex();
 * } finally {
 *   await h.close();
 * }
 */
export class OffloadedHash {
  private readonly batchBytes: number;
  private readonly maxBatches: number;
  private batch: Uint8Array<ArrayBuffer> | undefined;
  private fill = 0;
  private readonly free: ArrayBuffer[] = [];
  private allocated = 0;
  private worker: Worker | undefined;
  /** Set when the worker could not be started: the rest is hashed here. */
  private inline: Hash | undefined;
  private failure: Error | undefined;
  private closed = false;
  private onBuffer: (() => void) | undefined;
  private onDigest: { resolve: (d: OffloadedDigest) => void; reject: (err: Error) => void } | undefined;
  private digested = false;
  private readonly rangeAlgorithm: string | undefined;
  /** Ranges marked since the last batch went to the worker. */
  private pending: DigestRange[] = [];
  /** The ranges' digests on this thread, once the hashing is here. */
  private local: RangeDigests | undefined;

  constructor(
    private readonly algorithm: string,
    opts: OffloadedHashOptions = {},
  ) {
    this.batchBytes = opts.batchBytes ?? DEFAULT_BATCH;
    this.maxBatches = Math.max(2, opts.maxBatches ?? DEFAULT_MAX_BATCHES);
    this.rangeAlgorithm = opts.ranges;
    // An unknown algorithm fails here, as createHash would, not later on the worker.
    createHash(algorithm);
    if (opts.ranges !== undefined) createHash(opts.ranges);
  }

  /**
   * Marks `[start, end)` of the stream (absolute offsets) to be digested on its own as `id`, with the
   * `ranges` algorithm. Ranges come in stream order, before any of their bytes is given to `update`.
   */
  markRange(id: number, start: number, end: number): void {
    if (this.rangeAlgorithm === undefined) throw new Error('OffloadedHash: markRange without the ranges option');
    if (this.local !== undefined) this.local.add([[id, start, end]]);
    else this.pending.push([id, start, end]);
  }

  /** Whether a worker thread does the hashing (false for a stream shorter than one batch). */
  get offloaded(): boolean {
    return this.worker !== undefined;
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.digested || this.closed) throw new Error('OffloadedHash: update after digest or close');
    if (this.inline !== undefined) {
      this.inline.update(chunk);
      this.local?.update(chunk);
      return undefined;
    }
    let off = 0;
    while (off < chunk.length) {
      if (this.batch === undefined) {
        const buffer = this.take();
        if (buffer === undefined) return this.waitForBatch().then(() => this.update(chunk.subarray(off)));
        this.batch = new Uint8Array(buffer);
      }
      const n = Math.min(chunk.length - off, this.batch.length - this.fill);
      this.batch.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.batch.length && !this.send()) {
        this.inline!.update(chunk.subarray(off));
        this.local?.update(chunk.subarray(off));
        return undefined;
      }
    }
    return undefined;
  }

  /** The hex digest of everything updated. Once only (as is `digest`). */
  async digestHex(): Promise<string> {
    return (await this.digest()).hex;
  }

  /** The digest of everything updated, and those of the marked ranges. Once only. */
  async digest(): Promise<OffloadedDigest> {
    if (this.failure !== undefined) throw this.failure;
    if (this.digested || this.closed) throw new Error('OffloadedHash: digest after digest or close');
    this.digested = true;
    if (this.worker === undefined) {
      const h = this.inline ?? createHash(this.algorithm);
      const local = this.takeLocal();
      if (this.batch !== undefined && this.fill > 0) {
        const rest = this.batch.subarray(0, this.fill);
        h.update(rest);
        local?.update(rest);
      }
      this.batch = undefined;
      return { hex: h.digest('hex'), ranges: new Map(local?.done) };
    }
    if (this.fill > 0) this.send();
    const worker = this.worker;
    return new Promise<OffloadedDigest>((resolve, reject) => {
      this.onDigest = { resolve, reject };
      worker.postMessage(null);
    });
  }

  /** The ranges' hashing moves to this thread (no worker, or none could start). */
  private takeLocal(): RangeDigests | undefined {
    if (this.rangeAlgorithm === undefined) return undefined;
    if (this.local === undefined) {
      this.local = new RangeDigests(createHash, this.rangeAlgorithm);
      this.local.add(this.pending);
      this.pending = [];
    }
    return this.local;
  }

  /** Stops the worker (resolves once it has exited) and drops the batches. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.batch = undefined;
    this.free.length = 0;
    // Whoever still waits (a digest, a batch) hears of it rather than waiting for ever.
    this.failure ??= new Error('OffloadedHash: closed');
    this.onBuffer?.();
    this.onDigest?.reject(this.failure);
    this.onDigest = undefined;
    const w = this.worker;
    if (w === undefined) return;
    this.worker = undefined;
    await w.terminate();
  }

  private take(): ArrayBuffer | undefined {
    const b = this.free.pop();
    if (b !== undefined) return b;
    if (this.allocated >= this.maxBatches) return undefined;
    this.allocated++;
    return new ArrayBuffer(this.batchBytes);
  }

  private waitForBatch(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.onBuffer = () => {
        this.onBuffer = undefined;
        if (this.failure !== undefined) reject(this.failure);
        else resolve();
      };
    });
  }

  /** Hands the batch to the worker; false when there is none and the hashing moved to this thread. */
  private send(): boolean {
    const batch = this.batch!;
    const length = this.fill;
    this.batch = undefined;
    this.fill = 0;
    const worker = this.worker ?? this.start(batch.subarray(0, length));
    if (worker === undefined) return false;
    const ranges = this.pending;
    this.pending = [];
    worker.postMessage({ buffer: batch.buffer, length, ranges }, [batch.buffer]);
    return true;
  }

  /**
   * Starts the worker on the first full batch. One that cannot be started (a thread limit, say) leaves the
   * hashing to this thread: `first` is hashed here and so is everything after it.
   */
  private start(first: Uint8Array<ArrayBuffer>): Worker | undefined {
    const { Worker: WorkerClass } = process.getBuiltinModule('node:worker_threads');
    let worker: Worker;
    try {
      worker = new WorkerClass(workerSource(), {
        eval: true,
        workerData: { algorithm: this.algorithm, ranges: this.rangeAlgorithm },
      });
    } catch {
      this.inline = createHash(this.algorithm).update(first);
      this.takeLocal()?.update(first);
      this.free.push(first.buffer);
      return undefined;
    }
    worker.on('message', (m: ArrayBuffer | { hex: string; ranges: [number, string][] }) => {
      if (m instanceof ArrayBuffer) {
        if (!this.closed) this.free.push(m);
        this.onBuffer?.();
        return;
      }
      const d = this.onDigest;
      this.onDigest = undefined;
      d?.resolve({ hex: m.hex, ranges: new Map(m.ranges) });
    });
    const fail = (err: Error) => {
      if (this.closed) return;
      this.failure ??= err;
      this.onBuffer?.();
      const d = this.onDigest;
      this.onDigest = undefined;
      d?.reject(this.failure);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the ${this.algorithm} hash worker exited early (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
