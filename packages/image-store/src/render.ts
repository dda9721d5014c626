import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { fsyncDir, removeTree, syncFilesystem } from './fsutil.js';
import { withIndex, type IndexTx } from './index-db.js';
import { blobPath, manifestPath, treeDir, type Layout } from './layout.js';
import { lookup, type ImageRef } from './lookup.js';
import { ownerAlive, uniqueName } from './owner.js';
import { planTree, type Plan } from './plan.js';
import { addPodRef, type PodUse } from './pod-refs.js';
import type { TreeRecord } from './records.js';
import { extractLayers, extractsAsIs, type Layer } from './render-stream.js';
import { takeEarlyTree } from './early-extract.js';
import { hashTree } from './tree-hash.js';

export interface RenderOptions {
  /** Reference the tree (and its images) for this pod, atomically with finding or publishing it. */
  readonly pod?: PodUse;
  /**
   * `importAci(..., {extract: true})`'s `extracted` for this image: adopted as the tree's rootfs when the
   * tree is that one image taken as is, removed in any case.
   */
  readonly extracted?: string;
  /**
   * For `renderAll` with `pod`: called once with the trees the call expects to return, as soon as it knows them
   * (found rendered in the store's snapshot), before it references them and checks that they are still there,
   * so that a caller can begin what names them meanwhile. Not called when the call cannot tell early (a tree to
   * render, no snapshot). What the call returns may still differ if the images changed meanwhile (a tree is
   * named after its layers): a caller that acted early compares before relying on it.
   */
  readonly onExpected?: (trees: readonly TreeInfo[]) => void;
  /**
   * For `renderAll` with `pod`: the sync that makes the pod's new reference durable across a power loss is not
   * waited for but handed here, for the caller to wait for before the pod counts as prepared (`rkt run`: before
   * its stage1 starts), beside its own work. gc sees the reference once it is renamed in, before the call returns,
   * either way. Not called where the call synced it itself.
   */
  readonly refSynced?: (synced: Promise<void>) => void;
}

export interface TreeInfo extends TreeRecord {
  /** The tree's directory: `manifest` and `rootfs/`. */
  readonly path: string;
  readonly rootfs: string;
}

export const treeInfo = (l: Layout, r: TreeRecord): TreeInfo => ({ ...r, path: treeDir(l, r.id), rootfs: join(treeDir(l, r.id), 'rootfs') });

const exists = (p: string) => stat(p).then(() => true, () => false);

/** The top image's manifest, read under the index lock (a concurrent `image rm` may delete it right after). */
export async function readManifestBytes(l: Layout, plan: Plan): Promise<Buffer> {
  try {
    return await readFile(manifestPath(l, plan.image.id));
  } catch (err) {
    throw new StoreError('STORE_LAYOUT', `the manifest of ${plan.image.id} is missing from the store: ${(err as Error).message}`, { subject: plan.image.id, cause: err });
  }
}

/** Opens every layer's blob under the index lock: once open, a concurrent `image rm` cannot take it away. */
export async function openLayers(l: Layout, plan: Plan): Promise<Layer[]> {
  const layers: Layer[] = [];
  try {
    for (const p of plan.layers) layers.push({ imageId: p.imageId, whitelists: p.whitelists, blob: await open(blobPath(l, p.imageId), 'r') });
  } catch (err) {
    await closeLayers(layers);
    throw new StoreError('STORE_LAYOUT', `a layer of ${plan.image.name} is missing from the store: ${(err as Error).message}`, { subject: plan.image.id, cause: err });
  }
  return layers;
}

export async function closeLayers(layers: readonly { blob: FileHandle }[]): Promise<void> {
  await Promise.all(layers.map((x) => x.blob.close().catch(() => undefined)));
}

/** Extracts the layers into a fresh directory under `tmp/` and hashes it; the caller publishes or discards it. */
export async function renderToTemp(
  ctx: StoreContext, plan: Plan, layers: readonly Layer[], manifest: Buffer, extracted?: string,
): Promise<{ dir: string; hash: string; size: number }> {
  const single = layers.length === 1 && layers.every((l) => l.whitelists.length === 0);
  // The import's own extraction knows from its scan whether the names are as tar extracts them; any other is
  // checked against the blob's headers.
  const early = extracted !== undefined && single ? takeEarlyTree(extracted, manifest) : undefined;
  const adopt = extracted !== undefined && single && (early !== undefined ? early.namesAsIs : await extractsAsIs(layers));
  const dir = adopt ? extracted : join(ctx.layout.tmp, uniqueName('render'));
  if (!adopt) await mkdir(dir, { mode: 0o755 });
  try {
    if (!adopt) await extractLayers(layers, dir, { tarPath: ctx.options.tarPath, rootfsOnly: false });
    // An adopted extraction has its manifest and its hash under way since the import; unless the manifest
    // differs (it cannot: both are the stored image's), then it is written and hashed again here.
    let hashing = adopt ? early?.digest : undefined;
    if (hashing === undefined) {
      await rm(join(dir, 'manifest'), { force: true });
      await writeFile(join(dir, 'manifest'), manifest, { flag: 'wx', mode: 0o644 });
      hashing = hashTree(dir);
    }
    // The flush to disk runs while the tree is read back for its hash: both before it is published. An adopted
    // extraction's flush started when tar was done.
    const synced = adopt && early !== undefined && hashing === early.digest ? early.synced : syncFilesystem(dir);
    const [digest] = await Promise.all([hashing, synced]);
    return { dir, hash: digest.hash, size: digest.size };
  } catch (err) {
    await removeTree(dir);
    throw err;
  }
}

async function touch(tx: IndexTx, ids: readonly string[], treeSizeOf?: { id: string; size: number }): Promise<void> {
  const now = Date.now();
  for (const id of ids) {
    const img = await tx.image(id);
    if (img === undefined) continue;
    tx.putImage({ ...img, lastUsedAt: now, treeSize: treeSizeOf?.id === id ? treeSizeOf.size : img.treeSize });
  }
}

/** A live process's claim (`tmp/claim-<owner>`, holding a tree ID) to be rendering that tree now. */
async function liveClaim(l: Layout, treeId: string): Promise<string | undefined> {
  for (const name of await readdir(l.tmp)) {
    if (!name.startsWith('claim-') || !ownerAlive(name)) continue;
    const claimed = await readFile(join(l.tmp, name), 'utf8').catch(() => '');
    if (claimed === treeId) return name;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Renders an image and its dependencies into the tree store, or finds the tree already there. A process
 * about to render leaves a claim under the index lock, so others asking for the same tree wait for it
 * instead of extracting the same gigabytes again; a claim of a dead process is ignored, and a claim older
 * than `5 x lockTimeoutMs` is no longer waited for. Should two render anyway, both extract into private
 * temp directories; the first to publish (rename under the index lock) wins and the other discards its
 * copy, so there is always one complete tree.
 */
export async function render(ctx: StoreContext, ref: ImageRef, opts: RenderOptions = {}): Promise<TreeInfo> {
  try {
    return await renderOnce(ctx, ref, opts);
  } finally {
    // Adopted (renamed into the tree store) or not wanted: either way nothing of it stays in tmp/.
    if (opts.extracted !== undefined) await removeTree(opts.extracted);
  }
}

async function renderOnce(ctx: StoreContext, ref: ImageRef, opts: RenderOptions): Promise<TreeInfo> {
  const l = ctx.layout;
  const waitUntil = Date.now() + 5 * ctx.options.lockTimeoutMs;
  let claim: string | undefined;
  for (;;) {
    const first = await withIndex(l, ctx.options, async (tx) => {
      const image = await lookup(tx, ref);
      const plan = await planTree(l, tx, image);
      const existing = await tx.tree(plan.treeId);
      if (existing !== undefined && (await exists(treeDir(l, existing.id)))) {
        await touch(tx, plan.layers.map((x) => x.imageId));
        if (opts.pod !== undefined) await addPodRef(l, opts.pod, existing.layers, [existing.id]);
        return { kind: 'found' as const, tree: existing };
      }
      // A pod references every layer before rendering (or waiting for another render of) its tree: `remove`
      // refuses them and gc keeps them until the tree is published and referenced too. Without this, an
      // `image rm` during the render won, and the pod failed with "was removed while ... was being rendered".
      if (opts.pod !== undefined) await addPodRef(l, opts.pod, plan.layers.map((x) => x.imageId), []);
      const busy = Date.now() < waitUntil ? await liveClaim(l, plan.treeId) : undefined;
      if (busy !== undefined) return { kind: 'busy' as const, claim: busy };
      claim = uniqueName('claim');
      await writeFile(join(l.tmp, claim), plan.treeId, { flag: 'wx' });
      const manifest = await readManifestBytes(l, plan);
      return { kind: 'render' as const, plan, manifest, layers: await openLayers(l, plan) };
    });
    if (first.kind === 'busy') {
      while (Date.now() < waitUntil && (await exists(join(l.tmp, first.claim))) && ownerAlive(first.claim)) await sleep(50);
      continue;
    }
    if (first.kind === 'found') return treeInfo(l, first.tree);
    try {
      return await renderAndPublish(ctx, first.plan, first.layers, first.manifest, opts);
    } finally {
      if (claim !== undefined) await rm(join(l.tmp, claim), { force: true });
    }
  }
}

/**
 * The trees of several images for one pod (a stage1 and its apps), found and referenced in one index
 * transaction when they are all rendered already: each transaction opens LevelDB (which rewrites its
 * MANIFEST, with fdatasyncs) and a `touch` rewrites the images.json snapshot (four fsyncs), so a pod of
 * two images paid that twice. Images whose tree is missing are rendered one by one afterwards, exactly
 * as `render` does (claims, waiting, publishing). The result is in the order of `refs`.
 */
export async function renderAll(ctx: StoreContext, refs: readonly ImageRef[], opts: RenderOptions = {}): Promise<TreeInfo[]> {
  const l = ctx.layout;
  const found = await withIndex(l, ctx.options, async (tx) => {
    const trees: (TreeRecord | undefined)[] = [];
    const layers = new Set<string>();
    for (const ref of refs) {
      const plan = await planTree(l, tx, await lookup(tx, ref));
      for (const x of plan.layers) layers.add(x.imageId);
      const existing = await tx.tree(plan.treeId);
      trees.push(existing !== undefined && (await exists(treeDir(l, existing.id))) ? existing : undefined);
    }
    const have = trees.filter((t): t is TreeRecord => t !== undefined);
    // The same layer may serve two images (a stage1 and an app built on one base): touched once.
    await touch(tx, [...new Set(have.flatMap((t) => t.layers))]);
    // Every layer of every tree, the ones still to render included: from here on no `remove` or gc can take
    // an image this pod needs, while the renders below run one after another.
    if (opts.pod !== undefined) await addPodRef(l, opts.pod, [...layers], have.map((t) => t.id));
    return trees;
  });
  const out: TreeInfo[] = [];
  for (const [i, t] of found.entries()) out.push(t !== undefined ? treeInfo(l, t) : await render(ctx, refs[i]!, opts));
  return out;
}

async function renderAndPublish(ctx: StoreContext, plan: Plan, layers: Layer[], manifest: Buffer, opts: RenderOptions): Promise<TreeInfo> {
  const l = ctx.layout;
  let rendered: { dir: string; hash: string; size: number };
  try {
    // An early extraction is of the image that was just imported; it only serves a tree of that image alone.
    const extracted = plan.layers.length === 1 && plan.layers[0]?.imageId === plan.image.id ? opts.extracted : undefined;
    rendered = await renderToTemp(ctx, plan, layers, manifest, extracted);
  } finally {
    await closeLayers(layers);
  }
  try {
    const record = await withIndex(l, ctx.options, async (tx) => {
      const dest = treeDir(l, plan.treeId);
      const existing = await tx.tree(plan.treeId);
      let rec: TreeRecord;
      if (existing !== undefined && (await exists(dest))) {
        rec = existing; // another process published it first: ours is an identical spare
      } else {
        for (const layer of plan.layers) {
          if ((await tx.image(layer.imageId)) === undefined) {
            throw new StoreError('STORE_NOT_FOUND', `image ${layer.imageId} was removed while ${plan.image.name} was being rendered`, { subject: layer.imageId });
          }
        }
        if (await exists(dest)) await rename(dest, join(l.trash, uniqueName('tree'))); // debris of a killed render
        await rename(rendered.dir, dest);
        await fsyncDir(l.trees);
        rec = {
          id: plan.treeId,
          imageId: plan.image.id,
          layers: plan.layers.map((x) => x.imageId),
          contentHash: rendered.hash,
          size: rendered.size,
          renderedAt: Date.now(),
        };
        tx.putTree(rec);
      }
      await touch(tx, rec.layers, { id: plan.image.id, size: rec.size });
      if (opts.pod !== undefined) await addPodRef(l, opts.pod, rec.layers, [rec.id]);
      return rec;
    });
    return treeInfo(l, record);
  } finally {
    await removeTree(rendered.dir);
  }
}
