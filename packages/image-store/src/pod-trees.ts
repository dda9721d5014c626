import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { fsyncDir } from './fsutil.js';
import { indexHeld, recordUse } from './index-presence.js';
import { treeDir, type Layout } from './layout.js';
import { lookupIn, type ImageRef } from './lookup.js';
import { planLayers, treeOfLayers } from './plan.js';
import { addPodRef, type PodUse } from './pod-refs.js';
import type { TreeRecord } from './records.js';
import type { RenderOptions, TreeInfo } from './render.js';
import { readSnapshotRecords } from './snapshot.js';

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);

function info(l: Layout, r: TreeRecord): TreeInfo {
  return { ...r, path: treeDir(l, r.id), rootfs: join(treeDir(l, r.id), 'rootfs') };
}

/**
 * `renderAll` for a pod whose trees are all rendered already (the usual `rkt run`), without LevelDB: the
 * records come from the snapshot, the pod's reference is written first, then the lookup checks that no
 * index transaction is running (index-presence.ts) and that every tree's directory is still there. Any
 * doubt (no snapshot, a tree not rendered, a transaction running, a directory gone, an image not found)
 * returns undefined, and the caller takes the index as before; the reference written meanwhile is merged
 * with the one that path writes.
 */
export async function findRenderedForPod(
  ctx: StoreContext,
  refs: readonly ImageRef[],
  pod: PodUse,
  opts: Pick<RenderOptions, 'onExpected' | 'refSynced'> = {},
): Promise<TreeInfo[] | undefined> {
  const l = ctx.layout;
  const snap = await readSnapshotRecords(l);
  if (snap === undefined) return undefined;
  const images = { images: () => Promise.resolve(snap.images) };
  const found: TreeRecord[] = [];
  try {
    for (const ref of refs) {
      const t = treeOfLayers(snap.trees, await planLayers(l, images, lookupIn(snap.images, ref)));
      if (t === undefined) return undefined;
      found.push(t);
    }
  } catch (err) {
    if (err instanceof StoreError) return undefined; // the index's answer is the one to report
    throw err;
  }
  const layers = [...new Set(found.flatMap((t) => t.layers))];
  opts.onExpected?.(found.map((t) => info(l, t)));
  // The order is what makes this safe against gc: reference, then look for a transaction, then for the trees.
  // gc reads the reference as soon as it is renamed in; the sync of its directory, which a power loss needs,
  // goes on beside the checks rather than before them (~1 ms of every `rkt run` on a disk whose flushes are slow).
  await addPodRef(l, pod, layers, found.map((t) => t.id), { syncDir: false });
  const refSynced = fsyncDir(l.refs);
  // Seen by the finally below or the caller; a rejection while the checks run must not count as unhandled meanwhile.
  refSynced.catch(() => {});
  let answered = false;
  try {
    if (await indexHeld(l)) return undefined;
    for (const t of found) if (!(await isDir(treeDir(l, t.id)))) return undefined;
    await recordUse(l, layers);
    answered = true;
  } finally {
    // Awaited here unless the caller takes it: the index's path that follows an undefined writes the reference
    // again and syncs it itself.
    if (!answered || opts.refSynced === undefined) await refSynced;
  }
  opts.refSynced?.(refSynced);
  return found.map((t) => info(l, t));
}
