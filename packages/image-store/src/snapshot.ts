import { readFile, unlink } from 'node:fs/promises';
import { isErrno } from './errors.js';
import { fsyncDir, writeFileAtomic } from './fsutil.js';
import { INDEX_VERSION, type Layout } from './layout.js';
import { isImageRecord, type ImageRecord } from './records.js';

/**
 * `cas/images.json` lets `rkt image list`, `resolve` and `get` answer without loading LevelDB (its native
 * module costs more start-up time than the rest of the listing) and without taking the index lock. The
 * index stays the truth; the snapshot is valid whenever it exists, because every transaction that changes
 * an image record deletes it (durably) before committing and writes it again after, under the lock. A crash
 * in between leaves no snapshot, and the next reader rebuilds it from the index.
 */
const SNAPSHOT_VERSION = 1;

interface Snapshot {
  readonly snapshotVersion: number;
  readonly indexVersion: number;
  readonly images: readonly ImageRecord[];
}

export async function readSnapshot(l: Layout): Promise<ImageRecord[] | undefined> {
  let text: string;
  try {
    text = await readFile(l.snapshot, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as Snapshot;
    if (s.snapshotVersion !== SNAPSHOT_VERSION || s.indexVersion !== INDEX_VERSION || !Array.isArray(s.images)) return undefined;
    return s.images.every(isImageRecord) ? [...s.images] : undefined;
  } catch {
    return undefined; // torn by a power loss: rebuilt from the index
  }
}

export async function writeSnapshot(l: Layout, images: readonly ImageRecord[]): Promise<void> {
  const s: Snapshot = { snapshotVersion: SNAPSHOT_VERSION, indexVersion: INDEX_VERSION, images };
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
