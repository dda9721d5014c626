import { createReadStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { withIndex } from './index-db.js';
import { blobPath, treeDir } from './layout.js';
import { lookup, type ImageRef } from './lookup.js';
import { planTree } from './plan.js';
import { livePodRefs } from './pod-refs.js';
import type { TreeRecord } from './records.js';
import { toTrash } from './remove.js';
import { closeLayers, openLayers, readManifestBytes, renderToTemp } from './render.js';
import { hashTree, treeHashVersion } from './tree-hash.js';
import { createHash } from './lazy-crypto.js';

export interface TreeVerification {
  readonly treeId: string;
  /** The tree matched its recorded hash. */
  readonly ok: boolean;
  /** It did not, and was rendered again from its images. */
  readonly repaired: boolean;
  /** Why a damaged tree was left as is (a pod uses it, or repair was not asked for). */
  readonly problem: string | undefined;
}

export interface ImageVerification {
  readonly imageId: string;
  /** The stored ACI still hashes to the image ID. */
  readonly ok: boolean;
  readonly trees: readonly TreeVerification[];
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha512');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha512-${h.digest('hex')}`;
}

/**
 * Re-hashes a tree and, if it changed and `repair` is set, renders it again and swaps it in under the index
 * lock. A tree a live pod uses is never swapped under it: the damage is reported instead.
 */
export async function verifyTree(ctx: StoreContext, treeId: string, repair = true): Promise<TreeVerification> {
  const l = ctx.layout;
  const rec = await withIndex(l, ctx.options, (tx) => tx.tree(treeId));
  if (rec === undefined) throw new StoreError('STORE_NOT_FOUND', `no tree ${treeId} in the store`, { subject: treeId });
  let actual: string;
  try {
    actual = (await hashTree(treeDir(l, treeId), { version: treeHashVersion(rec.contentHash) })).hash;
  } catch (err) {
    actual = `unreadable (${(err as Error).message})`;
  }
  if (actual === rec.contentHash) return { treeId, ok: true, repaired: false, problem: undefined };
  // Hashed outside the lock: an image rm or gc that removed the tree meanwhile (its record first, then its
  // directory) or another verify that replaced it changed what was hashed, not the tree. Looked up again
  // before calling it damaged: a tree removed is not damaged (verifyImage leaves it out), one replaced is
  // verified as it is now.
  const now = await withIndex(l, ctx.options, (tx) => tx.tree(treeId));
  if (now === undefined) throw new StoreError('STORE_NOT_FOUND', `tree ${treeId} was removed during verification`, { subject: treeId });
  if (now.contentHash !== rec.contentHash || now.renderedAt !== rec.renderedAt) return verifyTree(ctx, treeId, repair);
  if (!repair) return { treeId, ok: false, repaired: false, problem: 'content differs from its recorded hash' };

  const prepared = await withIndex(l, ctx.options, async (tx) => {
    const image = await tx.image(rec.imageId);
    if (image === undefined) throw new StoreError('STORE_NOT_FOUND', `image ${rec.imageId} of tree ${treeId} is gone`, { subject: treeId });
    const plan = await planTree(l, tx, image);
    if (plan.treeId !== treeId) {
      throw new StoreError('STORE_DEPENDENCY', `tree ${treeId} can no longer be rebuilt: its dependencies resolve differently now`, { subject: treeId });
    }
    const manifest = await readManifestBytes(l, plan);
    return { plan, manifest, layers: await openLayers(l, plan) };
  });
  let fresh: { dir: string; hash: string; size: number };
  try {
    fresh = await renderToTemp(ctx, prepared.plan, prepared.layers, prepared.manifest);
  } finally {
    await closeLayers(prepared.layers);
  }
  const trash: string[] = [];
  try {
    return await withIndex(l, ctx.options, async (tx): Promise<TreeVerification> => {
      const user = (await livePodRefs(l)).find((r) => r.trees.includes(treeId));
      if (user !== undefined) {
        return { treeId, ok: false, repaired: false, problem: `damaged, but pod ${user.podUuid} uses it: not replaced` };
      }
      const current = await tx.tree(treeId);
      if (current === undefined) throw new StoreError('STORE_NOT_FOUND', `tree ${treeId} was removed during verification`, { subject: treeId });
      const old = await toTrash(l, treeDir(l, treeId), 'tree');
      if (old !== undefined) trash.push(old);
      await rename(fresh.dir, treeDir(l, treeId));
      await fsyncDir(l.trees);
      const next: TreeRecord = { ...current, contentHash: fresh.hash, size: fresh.size, renderedAt: Date.now() };
      tx.putTree(next);
      return { treeId, ok: false, repaired: true, problem: undefined };
    });
  } finally {
    await removeTree(fresh.dir);
    for (const p of trash) await removeTree(p);
  }
}

/** Checks an image's stored ACI against its ID, and verifies (and repairs) every tree rendered from it. */
export async function verifyImage(ctx: StoreContext, ref: ImageRef, repair = true): Promise<ImageVerification> {
  const l = ctx.layout;
  const { img, trees } = await withIndex(l, ctx.options, async (tx) => {
    const image = await lookup(tx, ref);
    return { img: image, trees: (await tx.trees()).filter((t) => t.imageId === image.id) };
  });
  let ok: boolean;
  try {
    await stat(blobPath(l, img.id));
    ok = (await hashFile(blobPath(l, img.id))) === img.id;
  } catch {
    ok = false;
  }
  // Removed meanwhile (its record first, then its files): gone, not corrupt.
  if (!ok && (await withIndex(l, ctx.options, (tx) => tx.image(img.id))) === undefined) {
    throw new StoreError('STORE_NOT_FOUND', `image ${img.id} was removed during verification`, { subject: img.id });
  }
  const results: TreeVerification[] = [];
  for (const t of trees) {
    try {
      results.push(await verifyTree(ctx, t.id, repair && ok));
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_NOT_FOUND')) throw err;
    }
  }
  return { imageId: img.id, ok, trees: results };
}
