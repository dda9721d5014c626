import type { StoreContext } from './context.js';
import { fsyncDir, removeTree } from './fsutil.js';
import { heldBy, heldImages, type HeldImport, type HoldRollback } from './hold.js';
import { withIndex, type IndexTx } from './index-db.js';
import { livePodRefs } from './pod-refs.js';
import type { ImageRecord } from './records.js';
import { dropImage, dropTree, userOf } from './remove.js';

/**
 * `ImageHold.rollback`: one transaction, so that gc, `image rm` and other imports see the store before or
 * after it, never half of it. The decisions are those of `remove` (a live pod's reference or another
 * process's hold keeps an image), minus the rolling back hold itself, which holds exactly what it imported.
 */
export async function rollbackImports(ctx: StoreContext, holdName: string, imports: readonly HeldImport[]): Promise<HoldRollback> {
  const l = ctx.layout;
  const trash: string[] = [];
  const result = await withIndex(l, ctx.options, async (tx) => {
    const live = await livePodRefs(l);
    const held = await heldImages(l, holdName);
    const trees = await tx.trees();
    const removed: string[] = [];
    const kept: { id: string; reason: string }[] = [];
    // Reads do not see the batch's own deletions: what this rollback removed is tracked here.
    const gone = new Set<string>();
    const image = async (id: string): Promise<ImageRecord | undefined> => (gone.has(id) ? undefined : tx.image(id));
    // Newest first, so each import is undone over the state it left (a dependency was imported after the
    // image that needs it; the flags an import took are given back after the later imports are undone).
    for (const imp of [...imports].reverse()) {
      const img = await image(imp.id);
      if (img === undefined) continue; // removed meanwhile by someone else: nothing left to undo
      if (imp.added) {
        const holder = held.get(imp.id);
        const builtOn = trees.filter((t) => t.layers.includes(imp.id) && !gone.has(t.id));
        const user = [imp.id, ...builtOn.map((t) => t.id)].map((id) => userOf(live, id)).find((u) => u !== undefined);
        if (holder !== undefined || user !== undefined) {
          kept.push({ id: imp.id, reason: holder !== undefined ? heldBy(holder) : `is used by pod ${user?.podUuid ?? ''}` });
          continue;
        }
        for (const t of builtOn) {
          dropTree(l, tx, t, trash);
          gone.add(t.id);
        }
        await dropImage(l, tx, img, trash);
        gone.add(imp.id);
        removed.push(imp.id);
      } else if (img.latest !== imp.wasLatest) {
        tx.putImage({ ...img, latest: imp.wasLatest });
      }
      await giveBackLatest(tx, img.name, imp, image, gone);
      await giveBackRemote(tx, imp, image, gone);
    }
    tx.afterCommit(() => fsyncDir(l.trash));
    return { removed, kept };
  });
  for (const p of trash) await removeTree(p);
  return result;
}

/** The `latest` flags the import cleared, unless another image of the name (not rolled back) has it now. */
async function giveBackLatest(
  tx: IndexTx, name: string, imp: HeldImport, image: (id: string) => Promise<ImageRecord | undefined>, gone: ReadonlySet<string>,
): Promise<void> {
  if (imp.unlatest.length === 0) return;
  const others = (await tx.images()).filter((i) => i.name === name && i.id !== imp.id && !gone.has(i.id) && !imp.unlatest.includes(i.id));
  if (others.some((i) => i.latest)) return;
  for (const id of imp.unlatest) {
    const rec = await image(id);
    if (rec !== undefined && !rec.latest) tx.putImage({ ...rec, latest: true });
  }
}

/** The remote record the import replaced, if the URL's record is still the import's and its image is stored. */
async function giveBackRemote(
  tx: IndexTx, imp: HeldImport, image: (id: string) => Promise<ImageRecord | undefined>, gone: ReadonlySet<string>,
): Promise<void> {
  if (imp.remote === undefined) return;
  const current = await tx.remote(imp.remote.url);
  // Someone recorded another download of the URL since: theirs stands.
  if (current !== undefined && current.imageId !== imp.id) return;
  // A kept image keeps the record that names it (its new user may have fetched it from there too).
  if (current !== undefined && imp.added && !gone.has(imp.id)) return;
  const previous = imp.remote.previous;
  if (previous !== undefined && (await image(previous.imageId)) !== undefined) tx.putRemote(previous);
  else if (current !== undefined && !gone.has(imp.id)) tx.delRemote(imp.remote.url);
}
