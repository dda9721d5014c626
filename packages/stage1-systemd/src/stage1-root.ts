import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Stage1RunContext } from '@rkt/controller';
import { overlayPathOption } from '@rkt/rootfs-overlay';

/**
 * The pod's root, which nspawn boots: an overlay of the stage1's tree in the store (the lower, shared by
 * every pod of the stage1 and never written) whose upper and work directories are on a tmpfs of the pod's
 * own, mounted at `stage1-root` in the pod directory, the overlay at `stage1-root/rootfs`. As nspawn's
 * `--volatile=overlay` made it, but that made its tmpfs at a hard-coded `/tmp/nspawn-volatile-XXXXXX`
 * (mkdtemp(3), TMPDIR not consulted) on the host and removed the directory only once the pod was set up: an
 * nspawn killed in between (SIGKILL, and its outer child with it) left it behind, and nothing could tell
 * whose it was, so nothing could remove it safely. Everything here is under the pod directory, which gc
 * unmounts and removes.
 */
export interface Stage1Root {
  /** The tmpfs's mount point. */
  readonly tmpfs: string;
  /** The overlay's mount point: nspawn's `--directory`. */
  readonly rootfs: string;
  /** The overlay's mount options: lower, upper and work dirs. */
  readonly overlayOptions: string;
}

/** In the pod directory: the tmpfs of the pod's root (`stage1-root/{upper,work}`, the overlay at `stage1-root/rootfs`). */
export const STAGE1_ROOT_DIR = 'stage1-root';

/** The pod's root of a stage1 tree (`lower`, a canonical path), in the pod directory `pod`. */
export function stage1Root(pod: string, lower: string): Stage1Root {
  const tmpfs = join(pod, STAGE1_ROOT_DIR);
  return {
    tmpfs,
    rootfs: join(tmpfs, 'rootfs'),
    overlayOptions: [
      overlayPathOption('lowerdir', lower),
      overlayPathOption('upperdir', join(tmpfs, 'upper')),
      overlayPathOption('workdir', join(tmpfs, 'work')),
    ].join(','),
  };
}

/** The tmpfs's options, as nspawn's --volatile=overlay mounted it: the pod's root directory is 0755, as the tree's. */
const TMPFS_OPTIONS = 'mode=0755';

/** Mounts the pod's root with stage0's mount(2) (the run module's context); `root.tmpfs` exists. */
export function mountStage1Root(root: Stage1Root, mount: NonNullable<Stage1RunContext['mount']>): void {
  try {
    mount('tmpfs', root.tmpfs, 'tmpfs', 0, TMPFS_OPTIONS);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(root.tmpfs, d));
    mount('overlay', root.rootfs, 'overlay', 0, root.overlayOptions);
  } catch (err) {
    throw new Error(`cannot mount the pod's root at ${root.rootfs}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** A pod's user namespace (`--private-users=SHIFT:COUNT`): its IDs 0..count-1 are the host's shift... */
export interface PrivateUsers {
  readonly shift: number;
  readonly count: number;
}

/**
 * The pod's root for a pod in a user namespace: the same overlay, its lower the stage1's tree seen through an
 * idmapped mount (its owners shifted by `ids.shift`: the tree in the store is shared and never chowned),
 * bound at `stage1-root/lower` on the tmpfs (beside the overlay, not in it; unmounted with the tmpfs by gc);
 * the tmpfs and the upper directory belong to the pod's root (the host's `shift`), so that what the pod's
 * systemd writes there is its own. nspawn then runs the pod with `--private-users=SHIFT:COUNT
 * --private-users-ownership=off`: its root is already as the pod must see it. (nspawn's own
 * `--private-users-ownership=map` cannot: it would idmap the overlay, which overlayfs refuses, EINVAL.)
 */
export function mountShiftedStage1Root(
  root: Stage1Root,
  lower: string,
  ids: PrivateUsers,
  mount: NonNullable<Stage1RunContext['mount']>,
  idmapBind: NonNullable<Stage1RunContext['idmapBind']>,
): void {
  const shifted = join(root.tmpfs, 'lower');
  try {
    mount('tmpfs', root.tmpfs, 'tmpfs', 0, `${TMPFS_OPTIONS},uid=${ids.shift},gid=${ids.shift}`);
    for (const d of ['upper', 'work', 'rootfs', 'lower']) mkdirSync(join(root.tmpfs, d));
    chownSync(join(root.tmpfs, 'upper'), ids.shift, ids.shift);
    idmapBind(lower, shifted, ids.shift, ids.count);
    const options = [overlayPathOption('lowerdir', shifted), overlayPathOption('upperdir', join(root.tmpfs, 'upper')), overlayPathOption('workdir', join(root.tmpfs, 'work'))];
    mount('overlay', root.rootfs, 'overlay', 0, options.join(','));
  } catch (err) {
    throw new Error(`cannot mount the pod's root at ${root.rootfs} for its user namespace: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * The same with mount(8), as shell lines for the shell that then executes nspawn (run-pod.ts), where stage0
 * offers no mount(2) (the executable): the stage1's own mount, run by the stage1's loader and libraries as
 * nspawn is, and the host's mkdir. Reads `RKT_MOUNT` (the loader, its `--library-path` and the mount binary,
 * one to a line), `RKT_ROOT` (the tmpfs's mount point, made by run) and `RKT_OVERLAY` (the overlay's options).
 */
export const MOUNT_SCRIPT = [
  'set -f',
  "IFS='\n'",
  'm() { $RKT_MOUNT "$@"; }',
  'm -t tmpfs -o ' + TMPFS_OPTIONS + ' tmpfs "$RKT_ROOT" && mkdir "$RKT_ROOT/upper" "$RKT_ROOT/work" "$RKT_ROOT/rootfs" && m -t overlay -o "$RKT_OVERLAY" overlay "$RKT_ROOT/rootfs" || {',
  '  echo "stage1-systemd run: cannot mount the pod\'s root at $RKT_ROOT/rootfs" >&2',
  '  exit 254',
  '}',
  'unset RKT_MOUNT RKT_ROOT RKT_OVERLAY',
].join('\n');

/** The environment MOUNT_SCRIPT reads: `loader` runs `mountBinary` with `libraryPath`. */
export function mountScriptEnv(root: Stage1Root, loader: string, libraryPath: string, mountBinary: string): Record<string, string> {
  return { RKT_MOUNT: [loader, '--library-path', libraryPath, mountBinary].join('\n'), RKT_ROOT: root.tmpfs, RKT_OVERLAY: root.overlayOptions };
}
