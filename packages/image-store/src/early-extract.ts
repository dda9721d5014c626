import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { StoreContext } from './context.js';
import { removeTree } from './fsutil.js';
import { uniqueName } from './owner.js';

/**
 * GNU tar extracting an image's `rootfs` into a private directory under `tmp/` while the import streams the
 * uncompressed archive, so that a render right after the import (`rkt fetch`) finds the files written
 * instead of reading the whole blob again. The directory is only a candidate: `render` adopts it (after
 * its own checks, for a one-layer tree taken as is) and publishes it as a tree only once the image is
 * stored, that is after its ID, layout and signature checks; anything else removes it, and a killed
 * process leaves it as `tmp/` debris for gc.
 *
 * tar sees each chunk only after the scan has parsed and checked every tar header in it (the scan pushes
 * a chunk to its tar reader before writing it to its sink), so it acts only on entries the layout rules
 * accepted, with the same arguments as the render's own extraction.
 */
export class EarlyExtraction {
  readonly dir: string;
  private child: ChildProcess | undefined;
  private failed = false;
  private exit: Promise<boolean> | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(ctx: StoreContext): Promise<EarlyExtraction> {
    const x = new EarlyExtraction(join(ctx.layout.tmp, uniqueName('render')));
    await mkdir(x.dir, { mode: 0o755 });
    const args = ['-x', '-f', '-', '-C', x.dir, '--numeric-owner', '--preserve-permissions', '--xattrs', '--xattrs-include=*',
      process.getuid?.() === 0 ? '--same-owner' : '--no-same-owner', 'rootfs'];
    const child = spawn(ctx.options.tarPath, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    x.child = child;
    x.exit = new Promise<boolean>((resolve) => {
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    });
    // A tar that fails only loses the head start: the render extracts from the blob as before.
    child.stdin?.on('error', () => { x.failed = true; });
    return x;
  }

  /** Wraps the blob's sink: every byte goes to both; the blob's errors are the stream's errors. */
  tee(blob: Writable): Writable {
    const stdin = this.child?.stdin;
    const waitFor = (w: NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean }) =>
      new Promise<void>((resolve) => {
        const done = () => { w.removeListener('drain', done); w.removeListener('close', done); w.removeListener('error', done); resolve(); };
        w.on('drain', done); w.on('close', done); w.on('error', done);
      });
    const tee = new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _enc, cb) => {
        const waits: Promise<void>[] = [];
        if (!blob.write(chunk)) waits.push(waitFor(blob));
        if (stdin != null && !this.failed && !stdin.destroyed && !stdin.write(chunk)) waits.push(waitFor(stdin));
        if (waits.length === 0) cb();
        else void Promise.all(waits).then(() => cb(), cb);
      },
      final: (cb) => {
        stdin?.end();
        blob.end();
        // `finished` waits for the blob's close, and so for its flush (fsync) before it.
        finished(blob).then(() => cb(), cb);
      },
      destroy: (err, cb) => {
        blob.destroy(err ?? undefined);
        cb(err);
      },
    });
    blob.on('error', (err) => tee.destroy(err));
    return tee;
  }

  /** Waits for tar: true when it extracted everything it was given. */
  async finish(): Promise<boolean> {
    this.child?.stdin?.end();
    return !this.failed && (await this.exit) === true;
  }

  /** Stops tar and removes what it wrote. */
  async discard(): Promise<void> {
    const c = this.child;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await this.exit;
    await removeTree(this.dir);
  }
}
