import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import type { Layout } from './layout.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { heldImages } from './hold.js';
import { withIndex } from './index-db.js';
import { ownerAlive } from './owner.js';
import { podAlive, readPodRefs } from './pod-refs.js';
import { dropImage, dropTree, toTrash } from './remove.js';

export interface GcOptions {
  /** Images not used for this long (ms) are removed; default 24 hours, like `rkt image gc`. */
  readonly gracePeriodMs?: number;
  /** "Now", for tests. */
  readonly now?: number;
}

export interface GcResult {
  readonly removedTrees: readonly string[];
  readonly removedImages: readonly string[];
  /** Stale pod references removed (their pod directory is gone). */
  readonly removedRefs: readonly string[];
  /** Leftovers of killed processes: temp files, unrecorded images and trees, trash. */
  readonly removedDebris: number;
}

export const DEFAULT_GRACE_MS = 24 * 3600 * 1000;

/** A partial download (`tmp/partial/`) left untouched this long is no longer worth resuming: gc removes it. */
export const STALE_PARTIAL_MS = 7 * 24 * 3600 * 1000;

/**
 * Decides under the index lock (so no live import, render or pod reference is half-done), moves what goes
 * into `trash/` with renames, then deletes the trash after releasing the lock.
 */
export async function gc(ctx: StoreContext, opts: GcOptions = {}): Promise<GcResult> {
  const l = ctx.layout;
  const grace = opts.gracePeriodMs ?? DEFAULT_GRACE_MS;
  const trash: string[] = [];
  const result = await withIndex(l, ctx.options, async (tx) => {
    const now = opts.now ?? Date.now();
    const removedRefs: string[] = [];
    const usedTrees = new Set<string>();
    const usedImages = new Set<string>();
    for (const { ref, file } of await readPodRefs(l)) {
      if (ref !== undefined && (await podAlive(l, ref))) {
        for (const t of ref.trees) usedTrees.add(t);
        for (const i of ref.images) usedImages.add(i);
      } else {
        await removeTree(file);
        removedRefs.push(ref?.podUuid ?? file);
      }
    }
    // An image a live fetch is between importing and rendering is in use (its tree may not exist yet).
    for (const id of (await heldImages(l)).keys()) usedImages.add(id);
    const removedTrees: string[] = [];
    const trees = await tx.trees();
    for (const t of trees) {
      if (usedTrees.has(t.id)) {
        for (const id of t.layers) usedImages.add(id);
        continue;
      }
      dropTree(l, tx, t, trash);
      removedTrees.push(t.id);
    }
    const removedImages: string[] = [];
    const images = await tx.images();
    for (const img of images) {
      if (usedImages.has(img.id) || now - img.lastUsedAt < grace) continue;
      await dropImage(l, tx, img, trash);
      removedImages.push(img.id);
    }

    // Debris. Holding the index means no live process sits between publishing a directory and recording
    // it, so an unrecorded image or tree directory can only come from a killed one.
    let debris = 0;
    // Directories of records removed above move to trash after the commit, not here.
    const keptImages = new Set(images.map((i) => i.id));
    const keptTrees = new Set(trees.map((t) => t.id));
    for (const [dir, kept, kind] of [[l.images, keptImages, 'image'], [l.trees, keptTrees, 'tree']] as const) {
      for (const name of await readdir(dir)) {
        if (kept.has(name)) continue;
        const moved = await toTrash(l, join(dir, name), kind);
        if (moved !== undefined) { trash.push(moved); debris++; }
      }
    }
    for (const name of await readdir(l.tmp)) {
      if (join(l.tmp, name) === l.partial) {
        // Resumable downloads: only the stale ones go.
        for (const path of await stalePartials(l, now)) { trash.push(path); debris++; }
        continue;
      }
      if (ownerAlive(name)) continue;
      trash.push(join(l.tmp, name));
      debris++;
    }
    for (const name of await readdir(l.trash)) {
      const path = join(l.trash, name);
      if (ownerAlive(name) || trash.includes(path)) continue;
      trash.push(path);
      debris++;
    }
    tx.afterCommit(() => fsyncDir(l.trash));
    return { removedTrees, removedImages, removedRefs, removedDebris: debris };
  });
  for (const p of trash) await removeTree(p);
  return result;
}

/**
 * The entries of `tmp/partial/` no live process owns (a `<kind>-<pid>.<start>.` name) and nothing has written for
 * STALE_PARTIAL_MS. The others are kept for the next download of the same thing to resume.
 */
async function stalePartials(l: Layout, now: number): Promise<string[]> {
  const stale: string[] = [];
  for (const name of await readdir(l.partial).catch(() => [] as string[])) {
    if (ownerAlive(name)) continue;
    const st = await lstat(join(l.partial, name)).catch(() => undefined);
    if (st !== undefined && now - st.mtimeMs > STALE_PARTIAL_MS) stale.push(join(l.partial, name));
  }
  return stale;
}
