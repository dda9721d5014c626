import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { AppcError } from '../errors.js';
import type { PlannedEntry } from './entries.js';
import type { EntryType } from './tar-header.js';
import type { XattrTree } from './xattrs.js';

/**
 * Walks `rootfs` depth first, children in byte order, and yields its entries in archive order: the walk order
 * is the archive order, so nothing but the hardlink table is held in memory. File system calls are synchronous:
 * per-file thread-pool round trips made building a tree of many small files several times slower. The second and later paths of an
 * inode become hardlink entries to the first. Sockets cannot be archived and are reported through `warn`.
 */
export async function* walkRootfs(rootfs: string, xattrs: XattrTree | undefined, warn: (msg: string) => void): AsyncGenerator<PlannedEntry> {
  const inodes = new Map<string, string>(); // "dev:ino" -> archive name of its first path
  const st = statOf(rootfs);
  if (!st.isDirectory()) throw new AppcError('APPC_ACI_LAYOUT', `${rootfs}: rootfs must be a directory`, { source: rootfs });
  yield entryOf(rootfs, 'rootfs', st, 'directory', xattrs);
  yield* walkDir(rootfs, 'rootfs', inodes, xattrs, warn);
}

async function* walkDir(
  dir: string,
  name: string,
  inodes: Map<string, string>,
  xattrs: XattrTree | undefined,
  warn: (msg: string) => void,
): AsyncGenerator<PlannedEntry> {
  let children: Buffer[];
  try {
    children = readdirSync(dir, { encoding: 'buffer' });
  } catch (err) {
    throw ioError(dir, err);
  }
  children.sort(Buffer.compare);
  for (const raw of children) {
    const base = raw.toString('utf8');
    const path = join(dir, base);
    if (!Buffer.from(base, 'utf8').equals(raw)) {
      throw new AppcError('APPC_ACI_LAYOUT', `${path}: file name is not valid UTF-8`, { source: path });
    }
    const child = `${name}/${base}`;
    const st = statOf(path);
    if (st.isDirectory()) {
      yield entryOf(path, child, st, 'directory', xattrs);
      yield* walkDir(path, child, inodes, xattrs, warn);
    } else if (st.isFile()) {
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = inodes.get(key);
        if (first !== undefined) {
          yield { header: { ...header(child, st, 'hardlink'), linkname: first }, origin: path };
          continue;
        }
        inodes.set(key, child);
      }
      const e = entryOf(path, child, st, 'file', xattrs);
      yield { ...e, header: { ...e.header, size: Number(st.size) }, contents: { file: path } };
    } else if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = readlinkSync(path, { encoding: 'buffer' });
      } catch (err) {
        throw ioError(path, err);
      }
      const text = target.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(target)) {
        throw new AppcError('APPC_ACI_LAYOUT', `${path}: symlink target is not valid UTF-8`, { source: path });
      }
      const e = entryOf(path, child, st, 'symlink', xattrs);
      yield { ...e, header: { ...e.header, linkname: text } };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const e = entryOf(path, child, st, st.isCharacterDevice() ? 'char' : 'block', xattrs);
      const { major, minor } = splitDev(st.rdev);
      yield { ...e, header: { ...e.header, devmajor: major, devminor: minor } };
    } else if (st.isFIFO()) {
      yield entryOf(path, child, st, 'fifo', xattrs);
    } else {
      warn(`${path}: sockets cannot be stored in an ACI; skipped`);
    }
  }
}

function entryOf(path: string, name: string, st: BigIntStats, type: EntryType, xattrs: XattrTree | undefined): PlannedEntry {
  const x = xattrs?.get(path);
  return { header: { ...header(name, st, type), xattrs: x !== undefined && x.size > 0 ? x : undefined }, origin: path };
}

function header(name: string, st: BigIntStats, type: EntryType): PlannedEntry['header'] {
  return {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    // Whole seconds: sub-second times would need a pax record on nearly every entry.
    mtime: Number(st.mtimeNs / 1_000_000_000n),
  };
}

/** Linux's dev_t layout (glibc `gnu_dev_major`/`gnu_dev_minor`). */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

function statOf(path: string): BigIntStats {
  try {
    return lstatSync(path, { bigint: true });
  } catch (err) {
    throw ioError(path, err);
  }
}

function ioError(path: string, err: unknown): AppcError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const text = code === 'ENOENT' ? 'no such file or directory (was it removed during the build?)' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new AppcError('APPC_IO', `${path}: ${text}`, { source: path, cause: err });
}
