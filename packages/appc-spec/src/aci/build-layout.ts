import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AppcError } from '../errors.js';
import { parseImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import type { PlannedEntry } from './entries.js';
import { toAppcError } from './io-errors.js';
import { LayoutRules, MANIFEST, ROOTFS } from './layout-rules.js';
import { walkRootfs } from './walk-layout.js';
import { writeAci } from './write-aci.js';
import type { AciBuildOptions, AciBuildResult } from './write-aci.js';
import { readXattrTree } from './xattrs.js';

/**
 * Builds an ACI from an image layout directory (`manifest` + `rootfs/`), deterministically: the same tree gives
 * the same image ID (sorted entries, numeric owners only, whole-second mtimes, no access or change times). Keeps
 * modes (setuid, setgid and sticky included), owners, mtimes, symlinks, hardlinks, device nodes, fifos and
 * xattrs. The manifest is validated first; the output appears atomically.
 *
 * @example
 * const { imageId } = await buildAciFromLayout('layout', 'busybox.aci', { compression: 'gzip' });
 */
export async function buildAciFromLayout(layoutDir: string, out: string, opts: AciBuildOptions = {}): Promise<AciBuildResult> {
  await refuseOutputInside(resolve(layoutDir), resolve(out), out);
  const layout = await openLayout(layoutDir, opts.xattrs !== false);
  const result = await writeAci(layout.entries(), out, opts);
  return { ...result, warnings: layout.warnings };
}

/**
 * Checks an image layout directory without writing anything: the manifest, that only `manifest` and `rootfs/`
 * are there, and the archive rules every entry of the ACI built from it would have to pass (no symlink out of
 * rootfs). Returns the validated manifest.
 */
export async function checkLayout(layoutDir: string): Promise<ImageManifest> {
  const layout = await openLayout(layoutDir, false);
  const rules = new LayoutRules(layoutDir);
  for await (const e of layout.entries()) {
    rules.check({ name: e.header.name, type: e.header.type, linkname: e.header.linkname ?? '', offset: 0, origin: e.origin });
  }
  rules.finish();
  return layout.manifest;
}

interface OpenLayout {
  manifest: ImageManifest;
  /** Entries in archive order, manifest first. */
  entries(): AsyncGenerator<PlannedEntry>;
  warnings: string[];
}

async function openLayout(layoutDir: string, withXattrs: boolean): Promise<OpenLayout> {
  const layout = resolve(layoutDir);
  const layoutStat = await lstat(layout).catch((err: unknown) => {
    throw toAppcError(err, layoutDir);
  });
  if (!layoutStat.isDirectory()) throw new AppcError('APPC_ACI_LAYOUT', `${layoutDir}: not a directory`, { source: layoutDir });
  const names = await readdir(layout);
  for (const n of names.sort()) {
    if (n !== MANIFEST && n !== ROOTFS) {
      throw new AppcError('APPC_ACI_LAYOUT', `${join(layoutDir, n)}: an image layout holds only manifest and rootfs/`, { source: layoutDir });
    }
  }
  const manifestPath = join(layout, MANIFEST);
  if (!names.includes(MANIFEST)) throw new AppcError('APPC_ACI_NO_MANIFEST', `${layoutDir}: no manifest in the layout`, { source: layoutDir });
  if (!names.includes(ROOTFS)) throw new AppcError('APPC_ACI_LAYOUT', `${layoutDir}: no rootfs directory in the layout`, { source: layoutDir });
  const mst = await lstat(manifestPath, { bigint: true });
  if (!mst.isFile()) throw new AppcError('APPC_ACI_LAYOUT', `${join(layoutDir, MANIFEST)}: must be a regular file`, { source: layoutDir });
  const manifestBytes = await readFile(manifestPath);
  const manifest = parseImageManifest(manifestBytes, join(layoutDir, MANIFEST));

  const rootfs = join(layout, ROOTFS);
  const xattrs = withXattrs ? await readXattrTree(rootfs) : undefined;
  const warnings: string[] = [];
  const manifestEntry: PlannedEntry = {
    header: {
      name: MANIFEST,
      type: 'file',
      mode: Number(mst.mode & 0o7777n),
      uid: Number(mst.uid),
      gid: Number(mst.gid),
      size: manifestBytes.length,
      mtime: Number(mst.mtimeNs / 1_000_000_000n),
    },
    contents: { data: manifestBytes },
    origin: manifestPath,
  };
  return {
    manifest,
    warnings,
    async *entries() {
      yield manifestEntry;
      yield* walkRootfs(rootfs, xattrs, (w) => warnings.push(w));
    },
  };
}

async function refuseOutputInside(layout: string, outPath: string, out: string): Promise<void> {
  // Compare real paths: the layout or the output's directory may be reached through a symlink.
  const realLayout = await realpath(layout).catch(() => layout);
  const realOut = join(await realpath(dirname(outPath)).catch(() => dirname(outPath)), basename(outPath));
  const rel = relative(realLayout, realOut);
  if (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)) {
    throw new AppcError('APPC_ACI_LAYOUT', `${out}: the output must not be inside the layout it is built from`, { source: out });
  }
}
