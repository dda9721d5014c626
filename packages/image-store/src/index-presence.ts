import { readdir, unlink, utimes, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { imageDir, type Layout } from './layout.js';
import { ownerAlive, uniqueName } from './owner.js';
import type { ImageRecord } from './records.js';

/**
 * Two things that let `rkt run` find and pin already rendered trees without opening LevelDB (whose native
 * module and open cost about as much as a Node start):
 *
 * - Presence: every index transaction leaves `tmp/index-<owner>` for as long as it runs. A lock-free
 *   reader first records its pod reference, then looks for such an entry: if there is none, any gc or
 *   image removal that starts later reads that reference and keeps its trees, and one that ran earlier
 *   has finished (its removals are visible as missing directories). If there is one, the reader takes the
 *   index like everyone else. An entry of a killed process names a dead owner, which is ignored (and
 *   removed by gc as debris), so a crash never blocks anything.
 * - Usage: a tree found that way cannot update `lastUsedAt` in the index, so the use is recorded as the
 *   modification time of the image's directory in the store, and the index's readers (image gc, `rkt
 *   image list`) take the later of the two.
 */
export async function announceIndexHeld(l: Layout): Promise<() => Promise<void>> {
  const path = join(l.tmp, uniqueName('index'));
  await writeFile(path, '', { flag: 'wx' });
  return () => unlink(path).catch(() => undefined);
}

/** Whether some live process (this one included) is inside an index transaction now. */
export async function indexHeld(l: Layout): Promise<boolean> {
  return (await readdir(l.tmp)).some((n) => n.startsWith('index-') && ownerAlive(n));
}

/** Records a use of the images now, without the index. */
export async function recordUse(l: Layout, imageIds: readonly string[]): Promise<void> {
  const now = new Date();
  // An image removed meanwhile has no directory to touch; the caller checks its trees instead.
  await Promise.all(imageIds.map((id) => utimes(imageDir(l, id), now, now).catch(() => undefined)));
}

/** The records with `lastUsedAt` raised to uses recorded by `recordUse`. */
export async function withUsage(l: Layout, images: readonly ImageRecord[]): Promise<ImageRecord[]> {
  // Synchronous stats on purpose: a listing of 1,000 images spent ~35 ms in 1,000 promise stats and the
  // garbage they make, against a few ms for the same stats done in a loop.
  // An ID that is one plain path component joins by concatenation (path.join's normalising was ~10 ms
  // of those 1,000).
  const plain = (id: string) => id !== '' && id !== '.' && id !== '..' && !id.includes('/');
  return images.map((img) => {
    const dir = plain(img.id) ? `${l.images}/${img.id}` : imageDir(l, img.id);
    const st = statSync(dir, { throwIfNoEntry: false });
    const used = st === undefined ? 0 : Math.floor(st.mtimeMs);
    return used > img.lastUsedAt ? { ...img, lastUsedAt: used } : img;
  });
}
