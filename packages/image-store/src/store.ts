import { readFile } from 'node:fs/promises';
import { DEFAULT_OPTIONS, type StoreContext, type StoreOptions } from './context.js';
import { StoreError } from './errors.js';
import type { ExportOptions } from './export.js';
import type { ExtractOptions } from './extract.js';
import type { GcOptions, GcResult } from './gc.js';
import type { IndexRebuild } from './rebuild-index.js';
import { ImageHold, type HoldPurpose } from './hold.js';
import type { ImportOptions, ImportResult } from './import.js';
import { readImages, withIndex } from './index-db.js';
import { layoutOf, manifestPath, prepareLayout, treeDir, type Layout } from './layout.js';
import { lookupAllIn, lookupIn, type ImageRef } from './lookup.js';
import { addPodRef, dropFromPodRef, extendPodRef, missingPodDirs, readPodRef, readPodRefs, removePodRef, type PodRef, type PodUse } from './pod-refs.js';
import { findRenderedForPod } from './pod-trees.js';
import { findMissingDependency, type MissingDependency } from './plan.js';
import { readFileImport, writeFileImport } from './file-imports.js';
import { withUsage } from './index-presence.js';
import type { ImageRecord, RemoteRecord } from './records.js';
import type { RenderOptions, TreeInfo } from './render.js';
import type { AciInput } from './import.js';
import type { ImageVerification, TreeVerification } from './verify.js';
import { stat } from 'node:fs/promises';

export interface OpenStoreOptions extends Partial<StoreOptions> {
  /** The rkt data dir (default `/var/lib/rkt`); the store lives in its `cas/` subdirectory. */
  readonly dir?: string;
}

export type RemoteInput = Omit<RemoteRecord, 'downloadedAt' | 'signatureUrl' | 'etag' | 'cacheMaxAge'> &
  Partial<Pick<RemoteRecord, 'downloadedAt' | 'signatureUrl' | 'etag' | 'cacheMaxAge'>>;

/**
 * The image store. Every method is safe to call from any number of processes at once: each takes the
 * index for a few milliseconds at most and does its long work (hashing, extracting) outside it.
 */
/**
 * Expected failures are StoreErrors already; anything else (a disk error, a directory removed under us)
 * still reaches the caller as one: a code and a one-line message naming the operation.
 */
async function guard<T>(op: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new StoreError('STORE_IO', `${op}: ${message.split('\n')[0]}`, { cause: err });
  }
}

/**
 * Each operation's module is loaded when it is first called (the package is built with code splitting):
 * listing and resolving, which every `rkt image list` and `rkt run` does, load only the store's core.
 */
export class Store {
  private readonly ctx: StoreContext;

  constructor(readonly layout: Layout, options: StoreOptions) {
    this.ctx = { layout, options };
  }

  /** Hashes, validates and stores an ACI (plain, gzip, bzip2 or xz: the compressions appc allows) in one pass. */
  importAci(input: AciInput, opts?: ImportOptions): Promise<ImportResult> {
    return guard('importAci', import('./import.js').then((m) => m.importAci(this.ctx, input, opts)));
  }

  /**
   * A hold keeps images from `remove` and `gc` while this process works with them, e.g. a fetch between
   * importing an image (`importAci(input, {hold})`) and rendering it. Release it when done; a killed
   * process's holds lapse by themselves.
   *
   * ```ts
   * const hold = store.hold();
   * try { const { id } = await store.importAci(file, { hold }); await store.render(id); } finally { await hold.release(); }
   * ```
   *
   * `purpose` is what `remove` says of a held image: `fetch` ("is being fetched by rkt process N") or `pod`
   * (run/prepare: "is being used by rkt process N to prepare a pod"). `hold.rollback()` undoes the imports
   * made with the hold, for a command that fails after importing.
   */
  hold(purpose: HoldPurpose = 'fetch'): ImageHold {
    return new ImageHold(this.ctx, purpose);
  }

  /** The image with exactly this full ID, if stored. */
  get(id: string): Promise<ImageRecord | undefined> {
    return guard('get', readImages(this.layout, this.ctx.options).then((all) => all.find((i) => i.id === id)));
  }

  /** The one image an ID, ID prefix (>= 2 hex digits), `name[:version]` or name + labels query means. */
  resolve(ref: ImageRef): Promise<ImageRecord> {
    return guard('resolve', readImages(this.layout, this.ctx.options).then((all) => lookupIn(all, ref)));
  }

  /**
   * Every image `ref` names: the one image of an ID or ID prefix, or every image with the name and the labels
   * given (newest import first), as rkt's `image rm` removed them all. `STORE_NOT_FOUND` when there is none.
   */
  resolveAll(ref: ImageRef): Promise<ImageRecord[]> {
    return guard('resolve', readImages(this.layout, this.ctx.options).then((all) => lookupAllIn(all, ref)));
  }

  /** Every stored image, oldest import first; `lastUsedAt` includes uses by pods that did not take the index. */
  list(): Promise<ImageRecord[]> {
    return guard('list', readImages(this.layout, this.ctx.options).then((all) => withUsage(this.layout, all)).then((all) =>
      all.sort((a, b) => a.importedAt - b.importedAt || (a.id < b.id ? -1 : 1))));
  }

  /** The image's manifest, byte for byte as it was in the ACI. */
  async manifest(ref: ImageRef): Promise<Buffer> {
    const img = await this.resolve(ref);
    try {
      return await readFile(manifestPath(this.layout, img.id));
    } catch (err) {
      throw new StoreError('STORE_NOT_FOUND', `image ${img.id} was removed`, { subject: img.id, cause: err });
    }
  }

  /**
   * The first dependency in the image's chain that a render would not find in the store (depth first), or
   * undefined when every one is there. Read like `resolve` (the snapshot, no index, no zod), so `rkt run` can
   * ask it of every image and load the fetcher only when something is missing.
   */
  missingDependency(ref: ImageRef): Promise<MissingDependency | undefined> {
    return guard('dependencies', readImages(this.layout, this.ctx.options).then((all) => findMissingDependency(this.layout, all, lookupIn(all, ref))));
  }

  remove(ref: ImageRef): Promise<ImageRecord> {
    return guard('remove', import('./remove.js').then((m) => m.removeImage(this.ctx, ref)));
  }

  /** Renders the image with its dependencies into the tree store (or finds the tree there). */
  render(ref: ImageRef, opts?: RenderOptions): Promise<TreeInfo> {
    return guard('render', import('./render.js').then((m) => m.render(this.ctx, ref, opts)));
  }

  /**
   * `render` of several images for one pod: the trees already rendered are found, touched and referenced
   * in one index transaction (one LevelDB open, one snapshot rewrite); missing ones are rendered as by
   * `render`. Results in the order of `refs`.
   */
  renderAll(refs: readonly ImageRef[], opts?: RenderOptions): Promise<TreeInfo[]> {
    return guard('render', (async () => {
      // A pod's trees are usually all rendered: found and referenced without LevelDB (pod-trees.ts).
      const found = opts?.pod !== undefined ? await findRenderedForPod(this.ctx, refs, opts.pod, opts) : undefined;
      return found ?? (await import('./render.js')).renderAll(this.ctx, refs, opts);
    })());
  }

  trees(): Promise<TreeInfo[]> {
    return guard('trees', import('./render.js').then(({ treeInfo }) =>
      withIndex(this.layout, this.ctx.options, async (tx) => (await tx.trees()).map((t) => treeInfo(this.layout, t)))));
  }

  tree(treeId: string): Promise<TreeInfo | undefined> {
    return guard('tree', import('./render.js').then(({ treeInfo }) => withIndex(this.layout, this.ctx.options, async (tx) => {
      const t = await tx.tree(treeId);
      if (t === undefined || !(await stat(treeDir(this.layout, treeId)).then(() => true, () => false))) return undefined;
      return treeInfo(this.layout, t);
    })));
  }

  verifyTree(treeId: string, opts: { repair?: boolean } = {}): Promise<TreeVerification> {
    return guard('verifyTree', import('./verify.js').then((m) => m.verifyTree(this.ctx, treeId, opts.repair ?? true)));
  }

  verifyImage(ref: ImageRef, opts: { repair?: boolean } = {}): Promise<ImageVerification> {
    return guard('verifyImage', import('./verify.js').then((m) => m.verifyImage(this.ctx, ref, opts.repair ?? true)));
  }

  /**
   * Replaces a damaged index (`STORE_INDEX_DAMAGED`) with one made from the images on disk and what LevelDB's
   * repair can read of the old one (`rkt image rebuild-index`); safe on a sound index too.
   */
  rebuildIndex(): Promise<IndexRebuild> {
    return guard('rebuildIndex', import('./rebuild-index.js').then((m) => m.rebuildIndex(this.ctx)));
  }

  gc(opts?: GcOptions): Promise<GcResult> {
    return guard('gc', import('./gc.js').then((m) => m.gc(this.ctx, opts)));
  }

  exportImage(ref: ImageRef, out: string, opts?: ExportOptions): Promise<ImageRecord> {
    return guard('exportImage', import('./export.js').then((m) => m.exportImage(this.ctx, ref, out, opts)));
  }

  extractImage(ref: ImageRef, dest: string, opts?: ExtractOptions): Promise<ImageRecord> {
    return guard('extractImage', import('./extract.js').then((m) => m.extractImage(this.ctx, ref, dest, opts)));
  }

  /**
   * The image an earlier import of the local file `url` (`file://...`) stored, while the file is unchanged
   * (`etag`) and the image is still stored; else undefined. Answered from a copy of the index's remote
   * records outside LevelDB when it can be (file-imports.ts).
   */
  fileImport(url: string, etag: string): Promise<string | undefined> {
    return guard('fileImport', (async () => {
      const stored = async (id: string) => (await this.get(id)) !== undefined;
      const copied = await readFileImport(this.layout, url, etag);
      if (copied !== undefined && (await stored(copied))) return copied;
      const rec = await this.getRemote(url);
      if (rec === undefined || rec.etag !== etag || !(await stored(rec.imageId))) return undefined;
      await writeFileImport(this.layout, { url, etag, imageId: rec.imageId });
      return rec.imageId;
    })());
  }

  getRemote(url: string): Promise<RemoteRecord | undefined> {
    return guard('getRemote', withIndex(this.layout, this.ctx.options, (tx) => tx.remote(url)));
  }

  listRemotes(): Promise<RemoteRecord[]> {
    return guard('listRemotes', withIndex(this.layout, this.ctx.options, (tx) => tx.remotes()));
  }

  /** Records (or refreshes, e.g. after a 304) where an image was downloaded from. The image must be stored. */
  putRemote(input: RemoteInput): Promise<RemoteRecord> {
    return guard('putRemote', withIndex(this.layout, this.ctx.options, async (tx) => {
      if ((await tx.image(input.imageId)) === undefined) {
        throw new StoreError('STORE_NOT_FOUND', `cannot record ${input.url}: no image ${input.imageId} in the store`, { subject: input.url });
      }
      const rec: RemoteRecord = {
        url: input.url,
        signatureUrl: input.signatureUrl,
        etag: input.etag,
        cacheMaxAge: input.cacheMaxAge,
        downloadedAt: input.downloadedAt ?? Date.now(),
        imageId: input.imageId,
      };
      tx.putRemote(rec);
      return rec;
    }));
  }

  removeRemote(url: string): Promise<boolean> {
    return guard('removeRemote', withIndex(this.layout, this.ctx.options, async (tx) => {
      const had = (await tx.remote(url)) !== undefined;
      tx.delRemote(url);
      return had;
    }));
  }

  /**
   * Pins already rendered trees (and their images) for a pod; fails with STORE_NOT_FOUND if a tree is gone,
   * in which case render it again with `render(image, {pod})`.
   */
  referencePod(use: PodUse, treeIds: readonly string[]): Promise<void> {
    return guard('referencePod', withIndex(this.layout, this.ctx.options, async (tx) => {
      const images: string[] = [];
      for (const id of treeIds) {
        const t = await tx.tree(id);
        if (t === undefined || !(await stat(treeDir(this.layout, id)).then(() => true, () => false))) {
          throw new StoreError('STORE_NOT_FOUND', `no tree ${id} in the store`, { subject: id });
        }
        images.push(...t.layers);
      }
      await addPodRef(this.layout, use, images, treeIds);
    }));
  }

  /**
   * Makes a pod's reference valid in every directory of `use.podDirs` too, before the pod moves to one its
   * reference may not list: a pod an older rkt-ts prepared lists the states of its lifecycle then, and gc
   * would release its images while it sits in a newer one (its images taken from a pod still mounted over
   * them). Reads the reference without the index; takes the index lock only to extend one. Returns whether
   * it did; a pod without a reference is left without one.
   */
  extendPodDirs(use: PodUse): Promise<boolean> {
    return guard('extendPodDirs', missingPodDirs(this.layout, use).then((missing) =>
      missing.length === 0 ? false : withIndex(this.layout, this.ctx.options, () => extendPodRef(this.layout, use))));
  }

  /** Drops a pod's reference (when the pod is garbage collected). Returns false if it had none. */
  releasePod(podUuid: string): Promise<boolean> {
    return guard('releasePod', removePodRef(this.layout, podUuid));
  }

  /** A pod's reference (what it pins: `images`, `trees`), read without the index; undefined when it has none. */
  podRef(podUuid: string): Promise<PodRef | undefined> {
    return guard('podRef', readPodRef(this.layout, podUuid));
  }

  /**
   * Unpins `images` and `trees` for a pod, keeping the rest of its reference: what an `rkt app add` undone had
   * referenced that the pod did not use before (compare with `podRef` read before the add's render). Under the
   * index lock. Returns whether the reference changed; a pod without one is left without one.
   */
  unreferencePod(podUuid: string, pinned: { readonly images: readonly string[]; readonly trees: readonly string[] }): Promise<boolean> {
    return guard('unreferencePod', withIndex(this.layout, this.ctx.options, () => dropFromPodRef(this.layout, podUuid, pinned.images, pinned.trees)));
  }

  podRefs(): Promise<PodRef[]> {
    return guard('podRefs', readPodRefs(this.layout).then((all) => all.flatMap((r) => (r.ref === undefined ? [] : [r.ref]))));
  }
}

/** Opens (creating or upgrading if needed) the store under `dir`. Nothing stays open between calls. */
export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  const { dir = '/var/lib/rkt', ...rest } = opts;
  const options: StoreOptions = { ...DEFAULT_OPTIONS, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
  const layout = layoutOf(dir);
  await guard('openStore', prepareLayout(layout));
  return new Store(layout, options);
}
