import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { withIndex, type IndexTx } from './index-db.js';
import { heldBy, heldImages } from './hold.js';
import { imageDir, treeDir, type Layout } from './layout.js';
import { lookup, type ImageRef } from './lookup.js';
import { uniqueName } from './owner.js';
import { livePodRefs, type PodRef } from './pod-refs.js';
import type { ImageRecord, TreeRecord } from './records.js';

/** Moves a directory into `trash/` (atomic, so the store never shows it half-deleted) and returns its new path. */
export async function toTrash(l: Layout, path: string, kind: string): Promise<string | undefined> {
  const dest = join(l.trash, uniqueName(kind));
  try {
    await rename(path, dest);
    return dest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Deletes the record now and moves the directory to trash once the deletion is committed. */
function dropDir(l: Layout, tx: IndexTx, dir: string, kind: string, trash: string[]): void {
  tx.afterCommit(async () => {
    const moved = await toTrash(l, dir, kind);
    if (moved !== undefined) trash.push(moved);
  });
}

export function dropTree(l: Layout, tx: IndexTx, t: TreeRecord, trash: string[]): void {
  tx.delTree(t.id);
  dropDir(l, tx, treeDir(l, t.id), 'tree', trash);
}

export async function dropImage(l: Layout, tx: IndexTx, img: ImageRecord, trash: string[]): Promise<void> {
  tx.delImage(img.id);
  for (const r of await tx.remotes()) if (r.imageId === img.id) tx.delRemote(r.url);
  dropDir(l, tx, imageDir(l, img.id), 'image', trash);
}

export function userOf(refs: readonly PodRef[], id: string): PodRef | undefined {
  return refs.find((r) => r.images.includes(id) || r.trees.includes(id));
}

/** Removes an image and every tree built from it; refuses while a pod uses either. */
export async function removeImage(ctx: StoreContext, ref: ImageRef): Promise<ImageRecord> {
  const l = ctx.layout;
  const trash: string[] = [];
  const removed = await withIndex(l, ctx.options, async (tx) => {
    const img = await lookup(tx, ref);
    const live = await livePodRefs(l);
    const trees = (await tx.trees()).filter((t) => t.layers.includes(img.id));
    const holder = (await heldImages(l)).get(img.id);
    if (holder !== undefined) {
      throw new StoreError('STORE_IN_USE', `image ${img.id.slice(0, 19)} (${img.name}) ${heldBy(holder)}`, { subject: img.id });
    }
    for (const id of [img.id, ...trees.map((t) => t.id)]) {
      const user = userOf(live, id);
      if (user !== undefined) {
        throw new StoreError('STORE_IN_USE', `image ${img.id.slice(0, 19)} (${img.name}) is used by pod ${user.podUuid}`, { subject: img.id });
      }
    }
    for (const t of trees) dropTree(l, tx, t, trash);
    await dropImage(l, tx, img, trash);
    tx.afterCommit(() => fsyncDir(l.trash));
    return img;
  });
  for (const p of trash) await removeTree(p);
  return removed;
}
