import { chown, mkdir, rmdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { canonicalPath } from './canonical-path.js';
import { detectOverlay } from './detect-overlay.js';
import { RootfsError } from './errors.js';
import { copyTree } from './copy-tree.js';
import { mountOverlay } from './mount-overlay.js';
import { overlayDirs } from './mountinfo/overlay-dirs.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import { withShiftedLower, type IdShift } from './shifted-lower.js';

export type RootfsMode = 'overlay' | 'copy';

const MODES: readonly string[] = ['overlay', 'copy', 'auto'];

export interface MountAppRootfsOptions {
  /** The image's rendered tree; never written to, in either mode. */
  lower: string;
  /** Where the app's root filesystem appears. */
  target: string;
  /** Per-pod overlay upper dir (created as needed; unused in copy mode). */
  upper: string;
  /** Per-pod overlay work dir, on the upper's filesystem (created as needed; unused in copy mode). */
  work: string;
  /**
   * 'overlay' mounts or fails; 'copy' copies (`--no-overlay`); 'auto' uses overlay where it works and
   * copies otherwise, saying why through `debug`.
   */
  mode: RootfsMode | 'auto';
  /** With 'auto': the data dir whose cached overlay verdict to use (see `detectOverlay`). */
  dataDir?: string;
  /**
   * The caller made `target`, `upper` and `work` itself, under a lock it has held since (a pod `rkt run`
   * prepared): nothing can be mounted on them or use them yet, so the mount table is not read for the checks
   * below. It is a read whose cost grows with every mounted pod (each exited pod keeps its rootfs mounted
   * until gc): 0.7 ms with 100 of them. Nor are the paths resolved to their canonical form.
   */
  fresh?: boolean;
  /** More overlay mount options (`volatile`, ...). */
  overlayOptions?: readonly string[];
  /**
   * The pod runs in a user namespace that maps its IDs 0..count-1 to the host's shift..: the app's root is
   * made so that its files appear there with the image's owners. With overlay, the lower layer is an
   * idmapped mount of `lower` (the shared tree is not chowned) and the upper directory belongs to the
   * shifted owner of the image's root, so what the pod writes is stored with its shifted IDs (an upper on an
   * idmapped mount cannot be used: overlayfs makes its work directory as the host's root, outside the map);
   * a copy is made from that idmapped mount, its owners shifted as it is copied. Needs a file system of the
   * lower that supports idmapped mounts (ext4, xfs, btrfs, tmpfs).
   */
  idmap?: IdShift;
  debug?: (msg: string) => void;
}

/**
 * Sets up one app's root filesystem at `target` from the image tree `lower`.
 *
 * ```ts
 * const { mode } = await mountAppRootfs({ lower: tree.rootfs, target, upper, work, mode: 'auto', dataDir, debug });
 * ```
 */
export async function mountAppRootfs(o: MountAppRootfsOptions): Promise<{ mode: RootfsMode; target: string }> {
  const debug = o.debug ?? ((): void => {});
  // The mode often comes from a flag or a pod file: refuse a typo rather than guess a mode.
  if (!MODES.includes(o.mode)) {
    throw new RootfsError('ROOTFS_BAD_INPUT', `unknown rootfs mode ${JSON.stringify(o.mode)} for ${o.target} (expected ${MODES.join(', ')})`, { path: o.target });
  }
  // As mountinfo spells them, for the checks against the mount table below; a fresh pod's are not checked
  // (the kernel resolves the mount's own paths), which spares a walk of every component of four paths, a
  // readlink each (~50 of them for a pod under /var/lib/rkt).
  const canonical = o.fresh === true ? (p: string) => Promise.resolve(resolve(p)) : canonicalPath;
  const [lower, target, upper, work] = await Promise.all([canonical(o.lower), canonical(o.target), canonical(o.upper), canonical(o.work)]);
  const lowerStat = await stat(lower).catch(() => undefined);
  if (!lowerStat?.isDirectory()) {
    throw new RootfsError('ROOTFS_BAD_INPUT', `lower tree ${o.lower} is not a directory`, { path: o.lower });
  }
  const table = o.fresh === true ? [] : await readMountinfo(undefined, [target, upper, work]);
  const busy = table.filter((m) => m.mountPoint === target);
  if (busy.length > 0) {
    const m = busy[busy.length - 1];
    throw new RootfsError('ROOTFS_BAD_INPUT', `app rootfs target ${target} is already a mount point (${m?.fsType} from ${m?.source})`, { path: target });
  }
  if (o.mode !== 'copy') {
    // overlayfs mounts a second overlay on an upper or work dir in use (with only a kernel warning), and
    // then "accessing files from both mounts will result in undefined behavior": refuse instead, e.g. a
    // pod run twice.
    for (const m of table) {
      const used = overlayDirs(m);
      const clash = [used.upper, used.work].find((d) => d === upper || d === work);
      if (clash !== undefined) {
        throw new RootfsError('ROOTFS_BAD_INPUT', `overlay dir ${clash} is already in use by the overlay mounted at ${m.mountPoint}`, { path: clash });
      }
    }
  }
  const dirs = { lower, target, upper, work };

  if (o.idmap !== undefined) return mountShifted(o, dirs, o.idmap, debug);
  if (o.mode === 'copy') {
    debug(`rootfs: copying ${dirs.lower} to ${dirs.target} (overlay disabled)`);
    await copyTree(dirs.lower, dirs.target);
    return { mode: 'copy', target: dirs.target };
  }
  if (o.mode === 'auto' && o.dataDir !== undefined) {
    const verdict = await detectOverlay(o.dataDir);
    if (!verdict.supported) {
      debug(`rootfs: not using overlay: ${verdict.reason ?? 'unsupported'}; copying ${dirs.lower} to ${dirs.target} instead (reflinks where the filesystem has them)`);
      await copyTree(dirs.lower, dirs.target);
      return { mode: 'copy', target: dirs.target };
    }
  }
  try {
    await mountOverlay({ ...dirs, extraOptions: o.overlayOptions ?? [] });
    debug(`rootfs: overlay at ${dirs.target}: lower ${dirs.lower}, upper ${dirs.upper}`);
    return { mode: 'overlay', target: dirs.target };
  } catch (e) {
    if (o.mode !== 'auto' || !(e instanceof RootfsError) || (e.code !== 'ROOTFS_MOUNT' && e.code !== 'ROOTFS_BAD_INPUT' && e.code !== 'ROOTFS_TOOL_MISSING')) throw e;
    // The filesystem can do overlay, yet this mount failed (a lower on an unsuitable filesystem, a path
    // mount(8) cannot express): copy rather than fail the pod, and say why.
    debug(`rootfs: overlay failed (${e.message}); copying ${dirs.lower} to ${dirs.target} instead`);
    await Promise.all([rmdir(dirs.upper).catch(() => {}), rmdir(dirs.work).catch(() => {})]);
    await copyTree(dirs.lower, dirs.target);
    return { mode: 'copy', target: dirs.target };
  }
}

type RootfsDirs = { lower: string; target: string; upper: string; work: string };

/** `mountAppRootfs` for a pod in a user namespace (`idmap`): the lower seen through an idmapped mount. */
async function mountShifted(o: MountAppRootfsOptions, dirs: RootfsDirs, ids: IdShift, debug: (msg: string) => void): Promise<{ mode: RootfsMode; target: string }> {
  // Beside the work directory: in the pod's own directory, which gc unmounts and removes after a crash here.
  const attach = `${dirs.work}-lower`;
  const copy = async (why: string): Promise<{ mode: RootfsMode; target: string }> => {
    debug(`rootfs: copying ${dirs.lower} to ${dirs.target}, owners shifted by ${ids.shift} (${why})`);
    await withShiftedLower(dirs.lower, attach, ids, (shifted) => copyTree(shifted, dirs.target));
    return { mode: 'copy', target: dirs.target };
  };
  if (o.mode === 'copy') return copy('overlay disabled');
  if (o.mode === 'auto' && o.dataDir !== undefined) {
    const verdict = await detectOverlay(o.dataDir);
    if (!verdict.supported) return copy(`not using overlay: ${verdict.reason ?? 'unsupported'}`);
  }
  return withShiftedLower(dirs.lower, attach, ids, async (shifted) => {
    const root = await stat(shifted);
    await mkdir(dirs.upper, { recursive: true });
    // The merged root takes the upper directory's owner: the image's root directory's, as the pod sees it.
    await chown(dirs.upper, root.uid, root.gid);
    await mountOverlay({ ...dirs, lower: shifted, extraOptions: o.overlayOptions ?? [] });
    debug(`rootfs: overlay at ${dirs.target}: lower ${dirs.lower} with owners shifted by ${ids.shift}, upper ${dirs.upper}`);
    return { mode: 'overlay', target: dirs.target };
  });
}
