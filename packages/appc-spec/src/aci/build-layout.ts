import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { AppcError } from '../errors.js';
import { parseImageManifest, serializeImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import type { PlannedEntry } from './entries.js';
import { toAppcError } from './io-errors.js';
import { LayoutRules, MANIFEST, ROOTFS } from './layout-rules.js';
import { walkRootfs } from './walk-layout.js';
import { writeAci } from './write-aci.js';
import type { AciBuildOptions, AciBuildResult } from './write-aci.js';
import { readXattrTree } from './xattrs.js';
import type { XattrTree } from './xattrs.js';

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
 * Builds an ACI from a manifest and a root filesystem directory found elsewhere than in a layout (an exited
 * pod's app, `rkt export`), with the same deterministic archive and atomic output as `buildAciFromLayout`.
 * The manifest is validated and stored as given (text or bytes) or serialized (an `ImageManifest`), with
 * mode 0644, root's and mtime 0: it is made, not a file of a layout. `rootfs` may be a magic link such as
 * `/proc/PID/cwd/` (a trailing `/` makes it followed): what it leads to is archived.
 *
 * @example
 * await buildAciFromRootfs(manifestText, '/proc/1234/cwd/', 'app.aci', { compression: 'gzip' });
 */
export async function buildAciFromRootfs(
  manifest: ImageManifest | string | Uint8Array,
  rootfs: string,
  out: string,
  opts: AciBuildOptions = {},
): Promise<AciBuildResult> {
  const manifestBytes =
    typeof manifest === 'string' || manifest instanceof Uint8Array
      ? (parseImageManifest(manifest, 'manifest'), Buffer.from(manifest))
      : Buffer.from(serializeImageManifest(manifest));
  const xattrs = opts.xattrs === false ? undefined : normalizedKeys(await readXattrTree(rootfs), rootfs);
  const warnings: string[] = [];
  const manifestEntry: PlannedEntry = {
    header: { name: MANIFEST, type: 'file', mode: 0o644, uid: 0, gid: 0, size: manifestBytes.length, mtime: 0 },
    contents: { data: manifestBytes },
    origin: 'manifest',
  };
  async function* entries(): AsyncGenerator<PlannedEntry> {
    yield manifestEntry;
    yield* walkRootfs(rootfs, xattrs, (w) => warnings.push(w));
  }
  const result = await writeAci(entries(), out, opts);
  return { ...result, warnings };
}

/**
 * getfattr names files as it reached them (`/proc/1/cwd//etc` from `/proc/1/cwd/`); the walk joins paths,
 * which normalizes them, and looks the root up by the path it was given.
 */
function normalizedKeys(tree: XattrTree, rootfs: string): XattrTree {
  const out: XattrTree = new Map();
  for (const [path, attrs] of tree) out.set(normalize(path).replace(/(.)\/$/, '$1'), attrs);
  const root = out.get(normalize(rootfs).replace(/(.)\/$/, '$1'));
  if (root !== undefined) out.set(rootfs, root);
  return out;
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
