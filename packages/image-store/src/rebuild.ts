import { readdir, readFile, stat } from 'node:fs/promises';
import { readStoreManifest } from './aci/manifest.js';
import { blobPath, manifestPath, type Layout } from './layout.js';
import { IMAGE_ID_RE, type ImageRecord } from './records.js';

/**
 * Records for the images found on disk, for an index that is new while `images/` is not (the index was
 * deleted or lost). Every directory there is complete (it was renamed into place only when finished), so
 * adopting it is safe; its times come from the blob's mtime. Trees are not adopted: gc removes them and
 * the next render rebuilds them.
 */
export async function recordsFromDisk(l: Layout): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  for (const id of await readdir(l.images)) {
    if (!IMAGE_ID_RE.test(id)) continue;
    try {
      const st = await stat(blobPath(l, id));
      const m = readStoreManifest(await readFile(manifestPath(l, id)), manifestPath(l, id));
      out.push({
        id, name: m.name, labels: m.labels, importedAt: st.mtimeMs, lastUsedAt: st.mtimeMs,
        blobSize: st.size, treeSize: 0, latest: false,
      });
    } catch {
      // Unreadable: left as debris for gc.
    }
  }
  return out;
}
