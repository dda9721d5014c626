import type { Hash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from './lazy-crypto.js';

export interface TreeDigest {
  /** `tree2-sha256-...` (or a first version's `sha256-...`): see `hashTree`. */
  readonly hash: string;
  /** Bytes of regular files, each hard-linked inode counted once. */
  readonly size: number;
}

const CHUNK = 1 << 20;

/**
 * The versions of a tree's content hash, told apart by the prefix of its text (a store keeps the hashes of
 * trees rendered by earlier versions, and verifies them as they were made).
 * - 1, `sha256-`: one SHA-256 over every entry's metadata and the files' contents inline.
 * - 2, `tree2-sha256-`: the same, with each file's own SHA-256 in place of its contents, so that a file's
 *   digest can come from elsewhere: an import hashes the files as the archive streams in
 *   (`AciScan.files`), and the tree it extracts is then hashed without being read back.
 */
export type TreeHashVersion = 1 | 2;
const PREFIX: Record<TreeHashVersion, string> = { 1: 'sha256-', 2: 'tree2-sha256-' };

/** The version a recorded hash was made with (a hash of no known version is checked as the current one). */
export function treeHashVersion(hash: string): TreeHashVersion {
  return hash.startsWith(PREFIX[1]) ? 1 : 2;
}

export interface HashTreeOptions {
  /** Default 2. */
  readonly version?: TreeHashVersion;
  /**
   * Version 2: digests of files known already, by name under the tree (`rootfs/...`); one is used when the
   * file on disk has the same size, and any other file is read.
   */
  readonly known?: ReadonlyMap<string, { readonly size: number; readonly sha256: string }>;
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
 */
export async function hashTree(root: string, opts: HashTreeOptions = {}): Promise<TreeDigest> {
  const version = opts.version ?? 2;
  const known = opts.known;
  const h = createHash('sha256');
  // Version 2 hashes each file on its own, into `file`, and adds the digest to `h`.
  const file = (): Hash => (version === 1 ? h : createHash('sha256'));
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
      const given = version === 2 ? known?.get(rel) : undefined;
      if (given !== undefined && given.size === st.size) {
        h.update(`${given.sha256}\0`);
      } else {
        const fh = file();
        if (st.size < CHUNK) hashFileSync(abs, fh, bufs[0]);
        else await hashFile(abs, fh, bufs);
        if (fh !== h) h.update(`${fh.digest('hex')}\0`);
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
  return { hash: `${PREFIX[version]}${h.digest('hex')}`, size };
}
