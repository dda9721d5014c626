import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeDeadWriterTemps, writerTempPath } from '@rkt/appc-spec/lean';
import type { StoreContext } from './context.js';
import { DamagedBlobError, isErrno, StoreError } from './errors.js';
import { errnoReason } from './make-dirs.js';
import { fsyncDir } from './fsutil.js';
import { withIndex } from './index-db.js';
import { blobPath } from './layout.js';
import { lookup, type ImageRef } from './lookup.js';
import type { ImageRecord } from './records.js';
import { createHash } from './lazy-crypto.js';

export interface ExportOptions {
  /** Replace `out` if it exists (rkt's `--overwrite`). */
  readonly overwrite?: boolean;
  /** Stops the copy (the temp file removed, `out` untouched unless already in place); rejects with its reason. */
  readonly signal?: AbortSignal;
}

/**
 * Checked before the blob is copied: a directory in the way failed only at the final rename, after the
 * whole copy, and a missing directory was reported with the temp file's name.
 */
async function checkTarget(out: string, overwrite: boolean): Promise<void> {
  const fail = (why: string, cause?: unknown) => new StoreError('STORE_TARGET', `${out}: ${why}`, { subject: out, cause });
  const existing = await stat(out).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw fail(isErrno(err, 'ENOTDIR') ? `${dirname(out)} is not a directory` : errnoReason(err), err);
  });
  if (existing?.isDirectory()) throw fail('is a directory');
  if (existing !== undefined && !overwrite) throw fail('already exists (use overwrite to replace it)');
  if (existing === undefined) {
    const parent = await stat(dirname(out)).catch((err: unknown) => {
      throw fail(isErrno(err, 'ENOENT') ? `directory ${dirname(out)} does not exist` : errnoReason(err), err);
    });
    if (!parent.isDirectory()) throw fail(`${dirname(out)} is not a directory`);
  }
}

/**
 * Writes the stored ACI to `out` (temp + fsync + rename), checking on the way that it still hashes to the
 * image ID, so the exported file's sha512 is the ID or nothing is written. The temp file is named after its
 * writer (`writerTempPath`): once it is made, those of writers killed part way in that directory are removed.
 */
export async function exportImage(ctx: StoreContext, ref: ImageRef, out: string, opts: ExportOptions = {}): Promise<ImageRecord> {
  const l = ctx.layout;
  const { img, blob } = await withIndex(l, ctx.options, async (tx) => {
    const image = await lookup(tx, ref);
    return { img: image, blob: await open(blobPath(l, image.id), 'r') };
  });
  const tmp = writerTempPath(out);
  let made = false;
  try {
    await checkTarget(out, opts.overwrite === true);
    let dest;
    try {
      dest = await open(tmp, 'w', 0o644);
      made = true;
    } catch (err) {
      // The reason only: the error's own path is the temp file's, which the user never named.
      throw new StoreError('STORE_TARGET', `${out}: cannot write: ${errnoReason(err)}`, { subject: out, cause: err });
    }
    await removeDeadWriterTemps(dirname(out));
    const h = createHash('sha512');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      for (;;) {
        opts.signal?.throwIfAborted();
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
      throw new DamagedBlobError(img.id);
    }
    await rename(tmp, out).catch((err: unknown) => {
      throw new StoreError('STORE_TARGET', `${out}: cannot write: ${errnoReason(err)}`, { subject: out, cause: err });
    });
    await fsyncDir(dirname(out));
    return img;
  } finally {
    await blob.close();
    // Not before it is made: removing it where its directory is missing or a file would fail, in place of the real error.
    if (made) await rm(tmp, { force: true });
  }
}
