import { close, constants, fsync, ftruncate, openSync, write } from 'node:fs';
import { Writable } from 'node:stream';

/** O_DIRECT wants the memory, the file offset and the length aligned; 4 KiB covers every block size in use. */
export const DIRECT_ALIGN = 4096;
const BLOCK = 1 << 20;
const WASM_PAGE = 64 * 1024;
/** The one piece of the WebAssembly API used here (this package's TypeScript libs do not declare it). */
type Wasm = { Memory: new (d: { initial: number }) => { readonly buffer: ArrayBuffer } };

/**
 * `size` bytes at an address aligned for O_DIRECT: a WebAssembly memory, whose pages V8 maps page-aligned,
 * where a Buffer's memory comes from malloc at any 16-byte boundary. Undefined where there is no WebAssembly
 * memory to be had (`node --jitless`, an address-space limit: V8 reserves gigabytes of address space for one).
 */
export function alignedBuffer(size: number): Buffer | undefined {
  const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;
  if (wasm === undefined) return undefined;
  try {
    return Buffer.from(new wasm.Memory({ initial: Math.ceil(size / WASM_PAGE) }).buffer, 0, size);
  } catch {
    return undefined;
  }
}

export interface DirectWriterOptions {
  /** O_EXCL: the file must not exist. */
  readonly exclusive?: boolean;
  readonly mode?: number;
  /** Staging blocks of 1 MiB: as many writes can be on their way to the disk at once. */
  readonly blocks?: number;
}

/**
 * A file written once, front to back, with O_DIRECT: the bytes go from aligned staging blocks straight to the
 * disk, around the page cache. For the big files a fetch writes and then hardly reads (the download kept for
 * a resume, the stored blob): on this project's VMs, putting 300 MB into the page cache cost ~0.5 s of kernel
 * CPU (a page allocation and a copy per 4 KiB), and writing it out later cost the store's flush its time
 * again; with O_DIRECT the disk does the work (DMA), beside the import.
 *
 * The staging blocks are aligned (`alignedBuffer`).
 * Where the filesystem refuses O_DIRECT at open (ramfs, FUSE without it) or a write (another alignment), or
 * no aligned memory can be had, the writer carries on with ordinary writes of the same blocks: slower, never
 * wrong.
 *
 * `write` resolves once the bytes are copied into a block (at once, unless every block is still on its way
 * to the disk); `end` writes the last block (padded to the alignment, then truncated back), optionally
 * fsyncs, and closes. `bytesWritten` counts the bytes whose write completed; blocks are written in order.
 */
export class DirectFileWriter {
  /** Whether writes still go around the page cache. */
  direct: boolean;
  /** Bytes accepted by `write`. */
  size = 0;
  /** Bytes whose write completed: the file's first `bytesWritten` bytes are in place. */
  bytesWritten = 0;
  private readonly path: string;
  private readonly fd: number;
  /** The descriptor without O_DIRECT, once a direct write was refused. */
  private plainFd: number | undefined;
  private readonly blocks: { buf: Buffer; busy: Promise<void> | undefined }[];
  private current = 0;
  private fill = 0;
  /**
   * The writes, one after another: the file then only ever holds a prefix of what was written, also after a
   * kill (a download's part file is resumed from its size). One write of 1 MiB at a time keeps up with any
   * network and disk here; the other blocks take the bytes meanwhile.
   */
  private chain: Promise<void> = Promise.resolve();
  private error: Error | undefined;
  private closed = false;
  private ending: Promise<void> | undefined;
  /** Called whenever `bytesWritten` grew. */
  onProgress: (() => void) | undefined;

  private constructor(path: string, fd: number, direct: boolean, staging: Buffer, blocks: number, onProgress?: () => void) {
    this.path = path;
    this.fd = fd;
    this.direct = direct;
    this.onProgress = onProgress;
    this.blocks = Array.from({ length: blocks }, (_, i) => ({ buf: staging.subarray(i * BLOCK, (i + 1) * BLOCK), busy: undefined }));
  }

  /** Opens (creates or truncates) `path`; `onProgress` is called whenever `bytesWritten` grew. */
  static open(path: string, opts: DirectWriterOptions = {}, onProgress?: () => void): DirectFileWriter {
    const flags = constants.O_WRONLY | constants.O_CREAT | (opts.exclusive === true ? constants.O_EXCL : constants.O_TRUNC);
    const mode = opts.mode ?? 0o644;
    const blocks = Math.max(2, opts.blocks ?? 4);
    const aligned = alignedBuffer(blocks * BLOCK);
    let fd: number;
    let direct = typeof constants.O_DIRECT === 'number' && aligned !== undefined;
    try {
      fd = openSync(path, flags | (direct ? (constants.O_DIRECT as number) : 0), mode);
    } catch (err) {
      if (!direct || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      direct = false;
      fd = openSync(path, flags, mode);
    }
    return new DirectFileWriter(path, fd, direct, aligned ?? Buffer.allocUnsafe(blocks * BLOCK), blocks, onProgress);
  }

  /** Copies `chunk` into the staging blocks, writing each block that fills. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new Error(`${this.path}: write after end`);
    let off = 0;
    while (off < chunk.length) {
      const block = this.blocks[this.current]!;
      if (block.busy !== undefined) await block.busy;
      if (this.error !== undefined) throw this.error;
      const n = Math.min(BLOCK - this.fill, chunk.length - off);
      block.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      this.size += n;
      off += n;
      if (this.fill === BLOCK) this.flushBlock(BLOCK);
    }
  }

  /**
   * Writes what is staged, waits for every write, truncates the padding, fsyncs if asked, closes. Again, the
   * same promise.
   */
  end(opts: { sync?: boolean } = {}): Promise<void> {
    return (this.ending ??= this.finish(opts));
  }

  private async finish(opts: { sync?: boolean }): Promise<void> {
    if (this.closed) throw new Error(`${this.path}: ended after destroy`);
    this.closed = true;
    try {
      if (this.error !== undefined) throw this.error;
      const tail = this.fill;
      if (tail > 0) {
        const block = this.blocks[this.current]!;
        const padded = this.direct ? Math.ceil(tail / DIRECT_ALIGN) * DIRECT_ALIGN : tail;
        block.buf.fill(0, tail, padded);
        this.flushBlock(padded, tail);
      }
      await Promise.all(this.blocks.map((b) => b.busy));
      if (this.error !== undefined) throw this.error;
      // The last block went out padded to the alignment: the file is cut back to what was written.
      await new Promise<void>((resolve, reject) => ftruncate(this.fd, this.size, (err) => (err ? reject(err) : resolve())));
      if (opts.sync === true) await new Promise<void>((resolve, reject) => fsync(this.plainFd ?? this.fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      await this.closeFds();
    }
  }

  /** Closes the file after the writes on their way; what was written stays. */
  async destroy(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await Promise.allSettled(this.blocks.map((b) => b.busy));
      await this.closeFds();
    }
  }

  private async closeFds(): Promise<void> {
    const fds = [this.fd, this.plainFd].filter((fd): fd is number => fd !== undefined);
    this.plainFd = undefined;
    await Promise.all(fds.map((fd) => new Promise<void>((resolve) => close(fd, () => resolve()))));
  }

  /** Starts the write of the current block's first `length` bytes (`real` of them data) and moves on. */
  private flushBlock(length: number, real = length): void {
    const block = this.blocks[this.current]!;
    const position = this.size - this.fill;
    const written = this.chain.then(() => {
      if (this.error !== undefined) throw this.error;
      return this.writeAt(block.buf, length, position);
    });
    this.chain = written.catch(() => undefined);
    block.busy = written.then(
      () => {
        block.busy = undefined;
        this.bytesWritten += real;
        this.onProgress?.();
      },
      (err: Error) => {
        block.busy = undefined;
        this.error ??= err;
      },
    );
    this.current = (this.current + 1) % this.blocks.length;
    this.fill = 0;
  }

  private async writeAt(buf: Buffer, length: number, position: number): Promise<void> {
    for (let off = 0; off < length; ) {
      const fd = this.plainFd ?? this.fd;
      let n: number;
      try {
        n = await new Promise<number>((resolve, reject) => write(fd, buf, off, length - off, position + off, (err, written) => (err ? reject(err) : resolve(written))));
      } catch (err) {
        // A filesystem that opened the file with O_DIRECT and then refuses this write: the same bytes, through
        // the page cache, on a descriptor without it (a short direct write cannot be continued unaligned).
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL' || (this.plainFd !== undefined && fd === this.plainFd)) throw err;
        this.plainFd ??= openSync(this.path, constants.O_WRONLY);
        this.direct = false;
        continue;
      }
      if (n === 0) throw new Error(`${this.path}: the disk took no bytes at offset ${position + off}`);
      off += n;
    }
  }
}

/**
 * A Writable over a DirectFileWriter, for code that pipes streams: a write's callback comes once its bytes
 * are staged, the stream finishes once the file is written, fsynced (`sync`) and closed.
 */
export function directWriteStream(writer: DirectFileWriter, opts: { sync?: boolean } = {}): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write: (chunk: Buffer, _enc, cb) => {
      writer.write(chunk).then(() => cb(), cb);
    },
    final: (cb) => {
      writer.end(opts).then(() => cb(), cb);
    },
    destroy: (err, cb) => {
      writer.destroy().then(() => cb(err), () => cb(err));
    },
  });
}

