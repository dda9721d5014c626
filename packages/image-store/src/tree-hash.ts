import type { Hash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from './lazy-crypto.js';

export interface TreeDigest {
  /**
   * `sha256f-...` over every entry's name, type, mode, owner, size, times, link target, device and, for a
   * regular file, the SHA-256 of its content (sha256: 2.4x faster than sha512 here; trees are local and
   * re-renderable). Trees recorded before file digests have a `sha256-` hash over the contents themselves.
   */
  readonly hash: string;
  /** Bytes of regular files, each hard-linked inode counted once. */
  readonly size: number;
}

/** A regular file's content digest known from where its bytes came from (the archive it was extracted from). */
export interface KnownFile {
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
  readonly size: number;
}

/**
 * `sha256f`: each file's content enters as its own SHA-256, so that a tree just extracted from an archive is
 * hashed from the digests taken as the archive streamed by, instead of reading every byte back.
 * `sha256`: the contents themselves, in walk order (trees recorded before); kept to verify them.
 */
export type TreeHashFormat = 'sha256f' | 'sha256';

const CHUNK = 1 << 20;

/** The format a recorded hash was made with. */
export function treeHashFormat(recorded: string): TreeHashFormat {
  return recorded.startsWith('sha256f-') ? 'sha256f' : 'sha256';
}

/**
 * Small files are read with synchronous calls: a tree of thousands of small files spent most of its hashing
 * time in thread-pool round trips (open, stat, read, close each), not in reading or hashing.
 */
function hashFileSync(path: string, h: Hash, buf: Buffer): void {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

async function hashFile(path: string, h: Hash, bufs: readonly [Buffer, Buffer]): Promise<void> {
  const fh = await open(path, 'r');
  try {
    // Two buffers: the next read runs on the thread pool while this thread hashes the last one.
    let i = 0;
    let pending = fh.read(bufs[0], 0, CHUNK, null);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const full = bufs[i]!;
      i ^= 1;
      pending = fh.read(bufs[i]!, 0, CHUNK, null);
      h.update(full.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/**
 * Hashes a rendered tree (its `manifest` and `rootfs`) in a fixed order, so that rendering the same images
 * always gives the same hash and any change to a file's bytes or metadata changes it. Directory times are
 * left out (they change whenever anything is added below them), and so are symlink times.
 *
 * `known` (format `sha256f` only) gives the content digests of files by their path under the tree
 * (`rootfs/etc/hostname`): a file whose size matches is not read.
 */
export async function hashTree(root: string, opts: { format?: TreeHashFormat; known?: ReadonlyMap<string, KnownFile> } = {}): Promise<TreeDigest> {
  const format = opts.format ?? 'sha256f';
  const known = format === 'sha256f' ? opts.known : undefined;
  const h = createHash('sha256');
  const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const inodes = new Set<string>();
  let size = 0;
  const visit = async (rel: string): Promise<void> => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l'
      : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
    // Only file and device times come from the archive; the store writes `manifest` itself.
    const mtime = type === 'd' || type === 'l' || rel === 'manifest' ? 0 : Math.floor(st.mtimeMs / 1000);
    h.update(`${rel}\0${type}\0${st.mode}\0${st.uid}\0${st.gid}\0${type === 'f' ? st.size : 0}\0${mtime}\0`);
    if (type === 'l') h.update(`${readlinkSync(abs)}\0`);
    if (type === 'c' || type === 'b') h.update(`${st.rdev}\0`);
    if (type === 'f') {
      const key = `${st.dev}:${st.ino}`;
      if (!inodes.has(key)) {
        inodes.add(key);
        size += st.size;
      }
      if (format === 'sha256') {
        if (st.size < CHUNK) hashFileSync(abs, h, bufs[0]);
        else await hashFile(abs, h, bufs);
      } else {
        const k = known?.get(rel);
        if (k !== undefined && k.size === st.size) {
          h.update(`${k.sha256}\0`);
        } else {
          const fh = createHash('sha256');
          if (st.size < CHUNK) hashFileSync(abs, fh, bufs[0]);
          else await hashFile(abs, fh, bufs);
          h.update(`${fh.digest('hex')}\0`);
        }
      }
    }
    if (type === 'd') {
      const names = readdirSync(abs).sort();
      for (const n of names) await visit(rel === '' ? n : `${rel}/${n}`);
    }
  };
  for (const top of ['manifest', 'rootfs']) {
    try {
      await visit(top);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      h.update(`${top}\0missing\0`);
    }
  }
  return { hash: `${format}-${h.digest('hex')}`, size };
}
