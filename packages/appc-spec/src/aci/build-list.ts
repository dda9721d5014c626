import { stat } from 'node:fs/promises';
import { AppcError } from '../errors.js';
import { parseImageManifest, serializeImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { planEntries } from './entries.js';
import type { AciEntry, PlannedEntry } from './entries.js';
import { toAppcError } from './io-errors.js';
import { MANIFEST, ROOTFS } from './layout-rules.js';
import { writeAci } from './write-aci.js';
import type { AciBuildOptions, AciBuildResult } from './write-aci.js';

/**
 * Builds an ACI from a manifest and a list of entries (paths inside rootfs), deterministically: entries are
 * written in path order whatever the list order, missing parent directories are added, and unset metadata
 * takes fixed defaults (root owner, mtime 0). The manifest is validated first.
 *
 * @example
 * await buildAci(manifest, [{ type: 'file', path: 'bin/app', source: './app', mode: 0o755 }], 'app.aci');
 */
export async function buildAci(
  manifest: ImageManifest | string | Uint8Array,
  entries: readonly AciEntry[],
  out: string,
  opts: Omit<AciBuildOptions, 'xattrs'> = {},
): Promise<AciBuildResult> {
  const manifestBytes =
    typeof manifest === 'string' || manifest instanceof Uint8Array
      ? (parseImageManifest(manifest, 'manifest'), Buffer.from(manifest))
      : Buffer.from(serializeImageManifest(manifest));
  const planned = await planEntries(entries, async (file) => {
    const st = await stat(file).catch((err: unknown) => {
      throw toAppcError(err, file);
    });
    if (!st.isFile()) throw new AppcError('APPC_ACI_LAYOUT', `${file}: not a regular file`, { source: file });
    return st.size;
  });
  const all: PlannedEntry[] = [
    { header: { name: MANIFEST, type: 'file', mode: 0o644, uid: 0, gid: 0, size: manifestBytes.length, mtime: 0 }, contents: { data: manifestBytes }, origin: 'manifest' },
    { header: { name: ROOTFS, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 }, origin: 'rootfs' },
    ...planned,
  ];
  const result = await writeAci(all, out, opts);
  return { ...result, warnings: [] };
}
