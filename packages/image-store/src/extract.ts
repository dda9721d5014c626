import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { removeTree } from './fsutil.js';
import { withIndex } from './index-db.js';
import { lookup, type ImageRef } from './lookup.js';
import { errnoReason, makeDirs } from './make-dirs.js';
import { planTree } from './plan.js';
import type { ImageRecord } from './records.js';
import { extractLayers } from './render-stream.js';
import { closeLayers, openLayers, readManifestBytes } from './render.js';

export interface ExtractOptions {
  /** Put the contents of `rootfs/` directly in `dest`, without the manifest (`--rootfs-only`). */
  readonly rootfsOnly?: boolean;
  /** Extract the dependencies below the image too (`rkt image render`); `rkt image extract` does not. */
  readonly withDependencies?: boolean;
}

/** Extracts an image (and optionally its dependencies) into a new or empty directory outside the store. */
export async function extractImage(ctx: StoreContext, ref: ImageRef, dest: string, opts: ExtractOptions = {}): Promise<ImageRecord> {
  const l = ctx.layout;
  let created: string | undefined;
  try {
    created = await makeDirs(dest);
  } catch (err) {
    const reason = (err as { path?: unknown }).path === dest && (err as { code?: unknown }).code === 'EEXIST' ? 'exists and is not a directory'
      : `cannot create the output directory: ${errnoReason(err)}`;
    throw new StoreError('STORE_TARGET', `${dest}: ${reason}`, { subject: dest, cause: err });
  }
  const entries = await readdir(dest).catch((err: unknown) => {
    throw new StoreError('STORE_TARGET', `${dest}: cannot read the output directory: ${errnoReason(err)}`, { subject: dest, cause: err });
  });
  if (entries.length > 0) throw new StoreError('STORE_TARGET', `${dest}: output directory exists and is not empty`, { subject: dest });
  try {
    const { img, manifest, layers } = await withIndex(l, ctx.options, async (tx) => {
      const image = await lookup(tx, ref);
      const p = await planTree(l, tx, image, opts.withDependencies === true);
      return { img: image, manifest: await readManifestBytes(l, p), layers: await openLayers(l, p) };
    });
    try {
      // Hashed on the way, as export does: a blob damaged on disk must not become a directory that looks right.
      await extractLayers(layers, dest, { tarPath: ctx.options.tarPath, rootfsOnly: opts.rootfsOnly === true, verify: true });
      if (opts.rootfsOnly !== true) await writeFile(join(dest, 'manifest'), manifest, { flag: 'wx', mode: 0o644 });
    } finally {
      await closeLayers(layers);
    }
    return img;
  } catch (err) {
    // Leave nothing half-extracted behind; a directory the user made is emptied, not removed.
    if (created !== undefined) await removeTree(created);
    else for (const name of await readdir(dest).catch(() => [])) await removeTree(join(dest, name));
    throw err;
  }
}
