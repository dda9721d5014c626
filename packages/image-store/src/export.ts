import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { fsyncDir } from './fsutil.js';
import { withIndex } from './index-db.js';
import { blobPath } from './layout.js';
import { lookup, type ImageRef } from './lookup.js';
import type { ImageRecord } from './records.js';
import { createHash } from './lazy-crypto.js';

export interface ExportOptions {
  /** Replace `out` if it exists (rkt's `--overwrite`). */
  readonly overwrite?: boolean;
}

/**
 * Writes the stored ACI to `out` (temp + fsync + rename), checking on the way that it still hashes to the
 * image ID, so the exported file's sha512 is the ID or nothing is written.
 */
export async function exportImage(ctx: StoreContext, ref: ImageRef, out: string, opts: ExportOptions = {}): Promise<ImageRecord> {
  const l = ctx.layout;
  const { img, blob } = await withIndex(l, ctx.options, async (tx) => {
    const image = await lookup(tx, ref);
    return { img: image, blob: await open(blobPath(l, image.id), 'r') };
  });
  const tmp = join(dirname(out), `.${basename(out)}.rkt-export-${process.pid}`);
  try {
    if (opts.overwrite !== true && (await stat(out).then(() => true, () => false))) {
      throw new StoreError('STORE_TARGET', `${out} already exists (use overwrite to replace it)`, { subject: out });
    }
    let dest;
    try {
      dest = await open(tmp, 'w', 0o644);
    } catch (err) {
      throw new StoreError('STORE_TARGET', `cannot write ${out}: ${(err as Error).message}`, { subject: out, cause: err });
    }
    const h = createHash('sha512');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await blob.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        h.update(buf.subarray(0, bytesRead));
        await dest.write(buf, 0, bytesRead);
      }
      await dest.sync();
    } finally {
      await dest.close();
    }
    if (`sha512-${h.digest('hex')}` !== img.id) {
      throw new StoreError('STORE_LAYOUT', `the stored ACI of ${img.id} is damaged (its hash no longer matches); fetch the image again`, { subject: img.id });
    }
    await rename(tmp, out);
    await fsyncDir(dirname(out));
    return img;
  } finally {
    await blob.close();
    await rm(tmp, { force: true });
  }
}
