import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { StoreContext } from './context.js';
import { alignedBuffer, DIRECT_ALIGN, type DirectFileWriter } from './direct-write.js';
import { removeTree, syncFilesystem } from './fsutil.js';
import { uniqueName } from './owner.js';
import type { FileDigest, TarEntry } from '@rkt/appc-spec';
import { hashTree, type TreeDigest } from './tree-hash.js';
import { TarFeeder, type DirectFile } from './tar-feeder.js';

const CHUNK = 1 << 20;
/**
 * Fed from the main thread up to here, then from a thread of its own (`TarFeeder`): starting one costs more
 * than feeding a small image's whole blob.
 */
const HANDOVER = 8 << 20;
/** Regular files this large are written by the feeder's thread, around the page cache (`TarFeeder`). */
const DIRECT_FILE = 1 << 20;

/** What `finish` knew of an extraction: the manifest it hashed with the tree, the hash, and the names. */
export interface EarlyTree {
  /** The content hash started once tar was done. */
  readonly digest: Promise<TreeDigest>;
  /** The import's scan found every name in normal form: the tree is the archive's, as a render would extract it. */
  readonly namesAsIs: boolean;
  /** The flush of the tree (syncfs) started once tar was done, manifest included. */
  readonly synced: Promise<void>;
}

/** Extractions that `finish` completed, by directory. */
const earlyTrees = new Map<string, EarlyTree & { manifest: Buffer }>();

/** What `finish` recorded for `dir`, if it hashed exactly `manifest` with the tree. Once only. */
export function takeEarlyTree(dir: string, manifest: Buffer): EarlyTree | undefined {
  const early = earlyTrees.get(dir);
  earlyTrees.delete(dir);
  return early !== undefined && early.manifest.equals(manifest) ? early : undefined;
}

/**
 * GNU tar extracting an image's `rootfs` into a private directory under `tmp/` while the import writes the
 * blob, so that a render right after the import (`rkt fetch`) finds the files written instead of reading
 * the whole blob again. The directory is only a candidate: `render` adopts it (after its own checks, for
 * a one-layer tree taken as is) and publishes it as a tree only once the image is stored, that is after
 * its ID, layout and signature checks; anything else removes it, and a killed process leaves it as
 * `tmp/` debris for gc.
 *
 * tar follows the blob file as it grows (read as it was written: from the disk, see DirectFileWriter), up to
 * the bytes whose writes completed:
 * it never holds the import back (tar is slow on runs of small files, a create each, and a pipe fed from
 * memory stalled download, inflate and hash behind it), and no extra copy of the archive sits in memory.
 * The scan writes a chunk to the blob only after its tar reader has parsed and checked every header in
 * it, so tar acts only on entries the layout rules accepted, with the same arguments as the render's own
 * extraction.
 */
export class EarlyExtraction {
  readonly dir: string;
  private child: ChildProcess | undefined;
  /**
   * tar's stdin, taken from the child: Node destroys a child's stdin when it exits, closing the descriptor that
   * a `TarFeeder` may still be writing to (and that the next open could reuse). Here it is ended or destroyed
   * only once nothing writes to it any more (`follow`'s end).
   */
  private input: Writable | undefined;
  private exit: Promise<boolean> = Promise.resolve(false);
  private pump: Promise<boolean> = Promise.resolve(false);
  /** Bytes of the blob written so far, and whether the blob is complete. */
  private written = 0;
  private complete = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private feeder: TarFeeder | undefined;
  /** Directory entries of the archive so far, by normal name. */
  private readonly dirs = new Set<string>();
  /** Direct files named before the feeder's thread started, for it to take. */
  private readonly directFiles: DirectFile[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(ctx: StoreContext): Promise<EarlyExtraction> {
    const x = new EarlyExtraction(join(ctx.layout.tmp, uniqueName('render')));
    await mkdir(x.dir, { mode: 0o755 });
    const args = ['-x', '-f', '-', '-C', x.dir, '--numeric-owner', '--preserve-permissions', '--xattrs', '--xattrs-include=*',
      process.getuid?.() === 0 ? '--same-owner' : '--no-same-owner', 'rootfs'];
    const child: ChildProcess = spawn(ctx.options.tarPath, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    x.child = child;
    x.input = child.stdin ?? undefined;
    child.stdin = null;
    x.exit = new Promise<boolean>((resolve) => {
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    });
    // A tar that fails only loses the head start: the render extracts from the blob as before.
    x.input?.on('error', () => { x.stop(); });
    return x;
  }

  private stop(): void {
    this.stopped = true;
    this.notify();
  }

  private notify(): void {
    const f = this.feeder;
    if (f !== undefined) {
      if (this.stopped) f.stop();
      else if (this.complete) f.complete(this.written);
      else f.advance(this.written);
    }
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * Copies the blob's written bytes to tar as they come, until the blob is complete or this stops. A blob
   * written around the page cache (`direct`) is read the same way, from the disk into aligned buffers: read
   * through the page cache, each page would cost the allocation the writer saved.
   */
  private async follow(blobFile: string, direct: boolean): Promise<boolean> {
    const stdin = this.input;
    if (stdin === undefined) return false;
    let fed = false;
    try {
      fed = await this.feed(stdin, blobFile, direct);
      return fed;
    } finally {
      // Nothing writes to it any more: tar sees the end of its input, or (when the feed stopped) loses it.
      if (fed) stdin.end();
      else stdin.destroy();
    }
  }

  private async feed(stdin: Writable, blobFile: string, direct: boolean): Promise<boolean> {
    // Two buffers, each reused once tar's pipe has taken it: fresh ones for every megabyte made V8 run a
    // full collection for each few dozen megabytes of outside memory, on the thread that does the hashing.
    const aligned = direct ? alignedBuffer(2 * CHUNK) : undefined;
    if (aligned === undefined) direct = false;
    const both = aligned ?? Buffer.allocUnsafe(2 * CHUNK);
    const bufs = [both.subarray(0, CHUNK), both.subarray(CHUNK)];
    // A filesystem that refuses a direct open or read of the blob: it is read through the page cache after all.
    const refused = (err: unknown): boolean => direct && (err as NodeJS.ErrnoException).code === 'EINVAL';
    const openPlain = () => {
      direct = false;
      return open(blobFile, constants.O_RDONLY);
    };
    let fh = direct ? await open(blobFile, constants.O_RDONLY | constants.O_DIRECT).catch((err) => (refused(err) ? openPlain() : Promise.reject(err))) : await openPlain();
    const taken: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    let i = 0;
    let handedOver = false;
    try {
      let position = 0;
      for (;;) {
        if (this.stopped) return false;
        if (position >= HANDOVER && !this.complete && !handedOver) {
          handedOver = true;
          const fed = await this.handOver(stdin, blobFile, fh.fd, direct, position, taken);
          if (fed !== undefined) return fed;
        }
        if (position >= this.written) {
          if (this.complete) break;
          await new Promise<void>((resolve) => { this.wake = resolve; });
          continue;
        }
        await taken[i];
        const buf = bufs[i] as Buffer;
        // The writer writes whole aligned blocks but its last: a direct read asks for whole ones too, and uses
        // what was written of them.
        const want = Math.min(CHUNK, this.written - position);
        let got: number;
        try {
          got = (await fh.read(buf, 0, direct ? Math.ceil(want / DIRECT_ALIGN) * DIRECT_ALIGN : want, position)).bytesRead;
        } catch (err) {
          if (!refused(err)) throw err;
          await fh.close();
          fh = await openPlain();
          continue;
        }
        const bytesRead = Math.min(got, want);
        if (bytesRead === 0) return false; // the blob shrank: not ours to extract
        position += bytesRead;
        // The write's callback comes once the bytes are in the pipe (or failed, or the pipe closed).
        taken[i] = new Promise<void>((resolve) => {
          const done = () => { stdin.off('close', done); resolve(); };
          stdin.on('close', done);
          stdin.write(buf.subarray(0, bytesRead), done);
        });
        i ^= 1;
      }
      await Promise.all(taken);
      return true;
    } finally {
      await fh.close();
    }
  }

  /**
   * Sees each entry of the scan (normal name, layout rules passed) before its header reaches the blob. A large
   * regular file is named to the feeder's thread, which then writes it itself, when tar would make nothing else
   * of it: its name is the archive's as is, it has no extended attributes (written by tar alone), no global
   * header comes with it (tar must see that for the entries after it), and every directory above it is an
   * entry of the archive (created by the thread as needed, their modes and owners set when tar reaches their
   * entries; tar gives a directory it creates on its own modes of its own).
   */
  entry(name: string, e: TarEntry): void {
    if (e.type === 'directory') {
      this.dirs.add(name);
      return;
    }
    if (e.type !== 'file' || e.size < DIRECT_FILE || e.name !== name || (e.xattrs !== undefined && e.xattrs.size > 0) || e.globalHeader === true) return;
    for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) if (!this.dirs.has(name.slice(0, i))) return;
    const f: DirectFile = { offset: e.offset, dataOffset: e.dataOffset, size: e.size, name, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
    if (this.feeder !== undefined) this.feeder.directFile(f);
    else this.directFiles.push(f);
  }

  /**
   * Hands the rest of the feed to a `TarFeeder` once this thread's writes are in tar's socket: its result,
   * or undefined when it could not start (this thread goes on).
   */
  private async handOver(stdin: Writable, blobFile: string, blob: number, direct: boolean, position: number, taken: Promise<void>[]): Promise<boolean | undefined> {
    // The socket's descriptor, which Node keeps on the stream's handle (no public accessor).
    const fd = (stdin as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return undefined;
    await Promise.all(taken);
    if (this.stopped || stdin.destroyed) return false;
    const feeder = TarFeeder.start({ file: blobFile, blob, direct, align: DIRECT_ALIGN, position, chunk: CHUNK, fd, dir: this.dir, files: this.directFiles }, this.written);
    if (feeder === undefined) return undefined;
    this.feeder = feeder;
    // What happened while it started: the feeder has only seen `written`.
    this.notify();
    return feeder.done;
  }

  /**
   * The import's sink for the blob: writes to `blob` (the writer of `blobFile`, fsynced and closed at the
   * stream's end), and has tar follow what the writer has written.
   */
  tee(blob: DirectFileWriter, blobFile: string): Writable {
    let following = false;
    blob.onProgress = () => {
      this.written = blob.bytesWritten;
      if (!following) {
        // The file has bytes once its first write completed.
        following = true;
        this.pump = this.follow(blobFile, blob.direct).catch(() => false);
      }
      this.notify();
    };
    return new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _enc, cb) => {
        blob.write(chunk).then(() => cb(), cb);
      },
      final: (cb) => {
        blob.end({ sync: true }).then(() => {
          this.complete = blob.bytesWritten === blob.size;
          if (!this.complete) this.stop();
          // The disk is idle from here while tar writes its last files (it lags the import by 0.2-0.4 s): the
          // tree written so far starts going out now, and the flush that `finish` waits for has less left.
          else syncFilesystem(this.dir).catch(() => undefined);
          this.notify();
          if (!following) this.input?.end();
          cb();
        }, cb);
      },
      // Also called after a normal finish (autoDestroy): only a failure stops tar's feed.
      destroy: (err, cb) => {
        if (err !== null) this.stop();
        blob.destroy().then(() => cb(err), () => cb(err));
      },
    });
  }

  /**
   * Waits for tar: true when it extracted the whole blob. Then the tree's `manifest` is written and its
   * content hash started, so that the hash (a read of every file) overlaps the rest of the import (the
   * blob's fsync, the caller's checks, the index transaction) instead of following it; `render` takes it
   * with `takeEarlyTree`, along with `namesAsIs` (the scan's), so that it need not read the blob's headers
   * again to know whether the tree is the archive as is.
   */
  async finish(manifest: Uint8Array, namesAsIs: boolean, files?: ReadonlyMap<string, FileDigest>): Promise<boolean> {
    const fed = await this.pump;
    if (!fed || !(await this.exit)) return false;
    await writeFile(join(this.dir, 'manifest'), manifest, { flag: 'wx', mode: 0o644 });
    // With the files' digests from the scan, the hash reads metadata only: tar wrote the archive's names as
    // they are (`namesAsIs`, or the tree is not adopted), so a file's name under the tree is its archive name.
    const digest = hashTree(this.dir, { known: files });
    digest.catch(() => undefined); // a discarded tree's hash fails on its removal: nobody waits for it then
    // The flush overlaps the rest of the import too, instead of starting once the render has the tree.
    const synced = syncFilesystem(this.dir);
    synced.catch(() => undefined);
    earlyTrees.set(this.dir, { manifest: Buffer.from(manifest), digest, namesAsIs, synced });
    return true;
  }

  /** Stops tar and removes what it wrote. */
  async discard(): Promise<void> {
    this.stop();
    earlyTrees.delete(this.dir);
    const c = this.child;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await this.pump;
    // Left open when no feed ever began (a feed closes it at its end).
    this.input?.destroy();
    await this.exit;
    await removeTree(this.dir);
  }
}
