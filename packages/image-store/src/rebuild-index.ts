import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClassicLevel } from 'classic-level';
import type { StoreContext } from './context.js';
import { isErrno, StoreError } from './errors.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { withIndex, type IndexTx } from './index-db.js';
import { treeDir, type Layout } from './layout.js';
import { uniqueName } from './owner.js';
import { planTree } from './plan.js';
import { livePodRefs } from './pod-refs.js';
import { isImageRecord, isRemoteRecord, isTreeRecord, type ImageRecord, type RemoteRecord, type TreeRecord } from './records.js';
import { dropSnapshot } from './snapshot.js';
import { hashTree } from './tree-hash.js';

export interface IndexRebuild {
  /** Image records of the new index: every complete image directory on disk. */
  readonly images: number;
  readonly trees: number;
  readonly remotes: number;
  /** Records of the old index that LevelDB's repair could read back and that still match the files on disk. */
  readonly salvaged: number;
}

interface OldRecords {
  readonly images: ImageRecord[];
  readonly trees: TreeRecord[];
  readonly remotes: RemoteRecord[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * What can be read of an index moved aside. A process that had it open before the move may still write to
 * it: it is waited for (its LevelDB lock) before anything is read. LevelDB's repair then rebuilds the
 * index's own bookkeeping from its tables and logs (a garbage `CURRENT` loses nothing; a damaged table loses
 * its records), and every record that reads back whole is kept for the caller to check against the disk.
 */
async function readOld(dir: string, lockTimeoutMs: number): Promise<OldRecords> {
  const { ClassicLevel } = await import('classic-level');
  const out: OldRecords = { images: [], trees: [], remotes: [] };
  const deadline = Date.now() + lockTimeoutMs;
  for (;;) {
    const db: ClassicLevel<string, string> = new ClassicLevel(dir, { createIfMissing: false });
    try {
      await db.open();
      await db.close();
      break;
    } catch (err) {
      const e = err as { code?: unknown; cause?: { code?: unknown } };
      const locked = e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED';
      if (!locked) break; // damaged: the repair below is what can still be done
      if (Date.now() >= deadline) {
        throw new StoreError('STORE_BUSY', `the old image index ${dir} stayed in use by another rkt process for ${lockTimeoutMs} ms`, { subject: dir, cause: err });
      }
      await sleep(50);
    }
  }
  try {
    await ClassicLevel.repair(dir);
  } catch {
    return out;
  }
  const db: ClassicLevel<string, string> = new ClassicLevel(dir, { createIfMissing: false });
  try {
    await db.open();
  } catch {
    return out;
  }
  try {
    for await (const [key, value] of db.iterator()) {
      let v: unknown;
      try {
        v = JSON.parse(value);
      } catch {
        continue;
      }
      if (key.startsWith('image/') && isImageRecord(v) && key === `image/${v.id}`) out.images.push(v);
      else if (key.startsWith('tree/') && isTreeRecord(v) && key === `tree/${v.id}`) out.trees.push(v);
      else if (key.startsWith('remote/') && isRemoteRecord(v) && key === `remote/${v.url}`) out.remotes.push(v);
    }
  } catch {
    // A table the repair kept but cannot read to its end: what was read before it is kept.
  } finally {
    await db.close().catch(() => undefined);
  }
  return out;
}

/**
 * Replaces the index with a new one made from what is on disk (`rkt image rebuild-index`), for an index
 * LevelDB reports damaged (`STORE_INDEX_DAMAGED`). The image directories are the truth, as for a lost index
 * (index-db.ts adopts them when it makes a new index); the old index's records are read back as far as
 * LevelDB's repair allows and kept where the disk agrees: an image's times and `latest` flag, a tree whose
 * directory and layers exist, a remote record whose image exists. A tree a live pod uses but no record
 * survived for is recorded again (its layers from its image's plan, its hash read from disk), so that gc
 * and a later render see the pod's rootfs as the tree it is rather than as debris. Other unrecorded trees
 * stay debris: gc removes them and the next render makes them again.
 */
export async function rebuildIndex(ctx: StoreContext): Promise<IndexRebuild> {
  const l = ctx.layout;
  const aside = join(l.trash, uniqueName('index'));
  // Readers without the lock trust the snapshot while it exists: it must not outlive the records it copies.
  await dropSnapshot(l);
  let moved = true;
  try {
    await rename(l.index, aside);
    await fsyncDir(l.root);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    moved = false;
  }
  const old = moved ? await readOld(aside, ctx.options.lockTimeoutMs) : { images: [], trees: [], remotes: [] };
  const result = await withIndex(l, ctx.options, (tx) => merge(l, tx, old));
  // The new index's first transaction adopted the images; the snapshot is written from the result.
  await withIndex(l, ctx.options, (tx) => tx.writeSnapshot());
  // Kept until here: a failure above leaves it in trash/ for gc, after this process is gone.
  if (moved) await removeTree(aside);
  return result;
}

async function merge(l: Layout, tx: IndexTx, old: OldRecords): Promise<IndexRebuild> {
  let salvaged = 0;
  const images = new Map((await tx.storedImages()).map((i) => [i.id, i]));
  for (const o of old.images) {
    const cur = images.get(o.id);
    if (cur === undefined) continue; // no complete directory on disk: a stale record
    const next: ImageRecord = {
      ...o,
      blobSize: cur.blobSize,
      importedAt: Math.max(o.importedAt, cur.importedAt),
      lastUsedAt: Math.max(o.lastUsedAt, cur.lastUsedAt),
      latest: o.latest || cur.latest,
    };
    images.set(o.id, next);
    tx.putImage(next);
    salvaged++;
  }
  const trees = new Map((await tx.trees()).map((t) => [t.id, t]));
  for (const t of old.trees) {
    if (trees.has(t.id) || !images.has(t.imageId) || !t.layers.every((id) => images.has(id)) || !(await exists(treeDir(l, t.id)))) continue;
    trees.set(t.id, t);
    tx.putTree(t);
    salvaged++;
  }
  const orphans = new Set<string>();
  for (const ref of await livePodRefs(l)) for (const id of ref.trees) if (!trees.has(id)) orphans.add(id);
  for (const image of orphans.size > 0 ? images.values() : []) {
    let plan;
    try {
      plan = await planTree(l, tx, image);
    } catch {
      continue; // a dependency is gone: no tree of this image can be recorded
    }
    if (!orphans.has(plan.treeId) || !(await exists(treeDir(l, plan.treeId)))) continue;
    const digest = await hashTree(treeDir(l, plan.treeId));
    const rec: TreeRecord = {
      id: plan.treeId, imageId: image.id, layers: plan.layers.map((x) => x.imageId),
      contentHash: digest.hash, size: digest.size, renderedAt: Date.now(),
    };
    trees.set(rec.id, rec);
    tx.putTree(rec);
    orphans.delete(plan.treeId);
  }
  let remotes = (await tx.remotes()).length;
  for (const r of old.remotes) {
    if (!images.has(r.imageId) || (await tx.remote(r.url)) !== undefined) continue;
    tx.putRemote(r);
    remotes++;
    salvaged++;
  }
  return { images: images.size, trees: trees.size, remotes, salvaged };
}
