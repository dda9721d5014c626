import { readFile, stat, unlink } from 'node:fs/promises';
import { isErrno } from './errors.js';
import { fsyncDir, writeFileAtomic } from './fsutil.js';
import { INDEX_VERSION, type Layout } from './layout.js';
import { isImageRecord, isTreeRecord, type ImageRecord, type TreeRecord } from './records.js';

/**
 * `cas/images.json` lets `rkt image list`, `resolve` and `get`, and `rkt run`'s lookup of rendered trees,
 * answer without loading LevelDB (its native module costs more start-up time than the rest of the listing)
 * and without taking the index lock. The index stays the truth; the snapshot is valid whenever it exists,
 * because every transaction that changes an image or tree record deletes it (durably) before committing and
 * writes it again after, under the lock. A crash in between leaves no snapshot, and the next reader rebuilds
 * it from the index.
 *
 * Version 2 added the tree records. A version-1 snapshot (an older rkt-ts wrote it) counts as missing and is
 * rebuilt; an older rkt-ts treats a version-2 one the same way. An older rkt-ts drops the snapshot whenever it
 * changes an image record but not when it only removes a tree (its gc), so a tree record read from here is
 * trusted only together with its directory (see pod-trees.ts).
 */
export const SNAPSHOT_VERSION = 2;

interface Snapshot {
  readonly snapshotVersion: number;
  readonly indexVersion: number;
  readonly images: readonly ImageRecord[];
  readonly trees: readonly TreeRecord[];
}

export interface SnapshotRecords {
  readonly images: ImageRecord[];
  readonly trees: TreeRecord[];
}

/**
 * The snapshot this process read last, by the identity of its file. Every write of the snapshot is a new file
 * renamed into place (and a drop removes it), so a file with the same device, inode, size, change time and
 * birth time is the same snapshot: one `rkt run` looks images up five times, and with 1,000 images (a 314 KB
 * snapshot) reading and checking it each time cost 9-20 ms of the run. The file may be replaced between the
 * stat and the read: then the newer text is kept under the older identity, which no file has any more. The
 * records are immutable; each reader gets its own arrays.
 */
let last: { readonly path: string; readonly identity: string; readonly records: SnapshotRecords } | undefined;

export async function readSnapshotRecords(l: Layout): Promise<SnapshotRecords | undefined> {
  let text: string;
  let identity: string;
  try {
    const st = await stat(l.snapshot);
    identity = `${st.dev}:${st.ino}:${st.size}:${st.ctimeMs}:${st.birthtimeMs}`;
    if (last !== undefined && last.path === l.snapshot && last.identity === identity) {
      return { images: [...last.records.images], trees: [...last.records.trees] };
    }
    text = await readFile(l.snapshot, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as Snapshot;
    if (s.snapshotVersion !== SNAPSHOT_VERSION || s.indexVersion !== INDEX_VERSION || !Array.isArray(s.images) || !Array.isArray(s.trees)) return undefined;
    if (!s.images.every(isImageRecord) || !s.trees.every(isTreeRecord)) return undefined;
    last = { path: l.snapshot, identity, records: { images: s.images, trees: s.trees } };
    return { images: [...s.images], trees: [...s.trees] };
  } catch {
    return undefined; // torn by a power loss: rebuilt from the index
  }
}

export async function readSnapshot(l: Layout): Promise<ImageRecord[] | undefined> {
  return (await readSnapshotRecords(l))?.images;
}

export async function writeSnapshot(l: Layout, images: readonly ImageRecord[], trees: readonly TreeRecord[]): Promise<void> {
  const s: Snapshot = { snapshotVersion: SNAPSHOT_VERSION, indexVersion: INDEX_VERSION, images, trees };
  await writeFileAtomic(l.snapshot, JSON.stringify(s), l.tmp);
}

export async function dropSnapshot(l: Layout): Promise<void> {
  try {
    await unlink(l.snapshot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await fsyncDir(l.root);
}
