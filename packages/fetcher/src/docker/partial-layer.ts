import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectFileWriter, makeDirs, ownerAlive, uniqueName } from '@rkt/image-store';

/** Compressed bytes appended at once: a write per 16 KiB TLS record would cost more than the network. */
const BATCH = 1 << 20;

/**
 * A layer blob's bytes as served, kept in the store's `tmp/partial/` while it downloads so that a process that
 * dies (or a pull that fails on a cut, a stall or an abort) leaves them for the next pull of that digest to
 * resume. They are only ever a prefix of the blob the digest names: the next pull feeds them through the same
 * digest and inflate before the network's rest, so nothing of them is trusted unchecked.
 *
 * Names: `sha256-HEX.part` is free for any process to take; a process writes only under its own name,
 * `layer-<pid>.<start>.<random>.sha256-HEX.part`, which it gets by renaming the free one (or one whose owner is
 * dead) to it: a rename is atomic, so of two processes one gets it and the other starts from nothing, and no two
 * ever write one file. Released, it goes back to the free name (kept) or away. gc removes the ones nobody wrote
 * for a week (`@rkt/image-store`'s `STALE_PARTIAL_MS`).
 */
export class PartialLayer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private writing: Promise<void> = Promise.resolve();
  /** A write failed: the copy is incomplete from there on and is not kept (the pull itself goes on). */
  private broken = false;

  private constructor(readonly path: string, private readonly free: string, private out: PartOut, readonly size: number) {}

  /** This process's partial of `digest` in `dir`: an earlier one taken over (its bytes counted in `size`), or a new one. */
  static async claim(dir: string, digest: string): Promise<PartialLayer> {
    await makeDirs(dir, 0o700);
    const suffix = `${digest.replace(':', '-')}.part`;
    const free = join(dir, suffix);
    const own = join(dir, `${uniqueName('layer')}.${suffix}`);
    const names = await readdir(dir).catch(() => [] as string[]);
    // A dead process's own name: it never gave it back.
    const orphans = names.filter((n) => n.startsWith('layer-') && n.endsWith(`.${suffix}`) && !ownerAlive(n));
    for (const name of [suffix, ...orphans]) {
      try {
        await rename(join(dir, name), own);
        break;
      } catch {
        // Gone, or another process took it first.
      }
    }
    const size = await stat(own).then((st) => st.size, () => 0);
    return new PartialLayer(own, free, size > 0 ? await appendOut(own) : directOut(own), size);
  }

  /** The bytes an earlier pull left, in order, in chunks. */
  read(): AsyncIterable<Buffer> {
    return createReadStream(this.path, { start: 0, end: Math.max(0, this.size - 1), highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  /** The next bytes of the blob; the promise (if any) is backpressure. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.broken) return undefined;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    return this.pendingLength >= BATCH ? this.flush() : undefined;
  }

  private flush(): Promise<void> {
    if (this.pendingLength > 0 && !this.broken) {
      const data = Buffer.concat(this.pending, this.pendingLength);
      const out = this.out;
      this.writing = this.writing.then(async () => {
        if (!this.broken) await out.write(data);
      }).catch(() => {
        this.broken = true;
      });
    }
    this.pending = [];
    this.pendingLength = 0;
    return this.writing;
  }

  /** Starts the copy over (what it holds was not the blob's start after all): a new file in its place. */
  async truncate(): Promise<void> {
    this.pending = [];
    this.pendingLength = 0;
    await this.writing;
    await this.out.end().catch(() => undefined);
    try {
      this.out = directOut(this.path);
    } catch {
      this.broken = true;
    }
  }

  /**
   * Done with it: `keep` gives it back under the free name for the next pull to resume (an interrupted download),
   * otherwise (the layer is in, or its bytes are not worth resuming) it is removed.
   */
  async release(keep: boolean): Promise<void> {
    await this.flush();
    const ended = await this.out.end().then(() => true, () => false);
    if (keep && ended && !this.broken) {
      // Over another process's free copy, if one appeared meanwhile: either is a prefix of the same blob.
      await rename(this.path, this.free).catch(() => rm(this.path, { force: true }));
    } else {
      await rm(this.path, { force: true });
    }
  }
}

/** Where the copy's bytes go, in order. */
interface PartOut {
  write(data: Buffer): Promise<void>;
  /** Writes what is left and closes; again, the same promise. */
  end(): Promise<void>;
}

/**
 * A new copy, written around the page cache (O_DIRECT, `@rkt/image-store`'s DirectFileWriter) as the ACI
 * downloads' part files are: it is read again only to resume, and every layer's bytes going through the page
 * cache a second time cost kernel CPU beside the pull. Its blocks are written in order: a killed process
 * leaves a prefix of the blob.
 */
function directOut(path: string): PartOut {
  const w = DirectFileWriter.open(path, { mode: 0o600, blocks: 2 });
  return { write: (data) => w.write(data), end: () => w.end() };
}

/** A copy taken over: appended to, as before. */
async function appendOut(path: string): Promise<PartOut> {
  const fh: FileHandle = await open(path, 'a', 0o600);
  let closing: Promise<void> | undefined;
  return {
    write: async (data) => {
      await fh.write(data);
    },
    end: () => (closing ??= fh.close()),
  };
}
