import { canonicalPath, isAtOrUnder } from './canonical-path.js';
import { RootfsError } from './errors.js';
import type { UnmountFailure } from './errors.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import type { MountInfo } from './mountinfo/parse-mountinfo.js';
import { firstLine, runTool } from './run-tool.js';
import { MNT_DETACH, sysAvailable, umount, UMOUNT_NOFOLLOW } from './sys.js';

export interface UnmountOptions {
  /** Detach every mount lazily straight away (for a pod known to be dead), instead of only busy ones. */
  lazy?: boolean;
  /** Told about each lazy detach and each failure (the CLI's `--debug`). */
  debug?: (msg: string) => void;
  /**
   * How long one umount may take (default 30 s). A plain umount that hangs (a dead network filesystem)
   * is killed and the mount detached lazily instead; a lazy one that hangs counts as a failure.
   */
  timeoutMs?: number;
  /**
   * Unmount with umount(8) even where the addon's umount2(2) would do (it always does for network and
   * FUSE filesystems, and where the addon is not built).
   */
  useUmountTool?: boolean;
  /**
   * umount2(2) to use where this code has no addon of its own: a stage1's gc module, bundled into the stage1
   * image without it, gets stage0's when run in stage0's process (`Stage1GcModule`'s context).
   */
  umount?: (target: string, flags: number) => void;
}

/**
 * Children before parents: a mount whose mount point lies deeper goes first, and of mounts stacked on one
 * mount point the newest (highest ID) goes first. The order matters because umount of a mount that still
 * has mounts on top of it fails with EBUSY.
 */
function deepestFirst(mounts: MountInfo[]): MountInfo[] {
  const depth = (m: MountInfo): number => (m.mountPoint === '/' ? 0 : m.mountPoint.split('/').length);
  return [...mounts].sort((a, b) => depth(b) - depth(a) || b.id - a.id);
}

/**
 * Unmounts every mount at or under `path`, deepest first. A mount that is busy (a process has its cwd or
 * an open file inside) is detached lazily: it disappears from the mount table at once and the kernel frees
 * it when the last user lets go. A mount that vanished meanwhile counts as done (someone else unmounted
 * it, which is what we want). It carries on past failures and, if anything is still mounted at the end,
 * throws ROOTFS_UNMOUNT listing what was unmounted and what failed: a caller that goes on to delete the
 * directory must not walk into a live mount.
 *
 * ```ts
 * const { unmounted } = await unmountTree(`/var/lib/rkt/pods/exited-garbage/${uuid}`);
 * ```
 */
export async function unmountTree(path: string, o: UnmountOptions = {}): Promise<{ unmounted: string[] }> {
  const root = await canonicalPath(path);
  if (root === '/') {
    // Everything is under `/`: a caller passing it (an empty pod dir variable resolved against cwd `/`)
    // would take the host's mounts down.
    throw new RootfsError('ROOTFS_BAD_INPUT', `refusing to unmount everything under / (asked for ${JSON.stringify(path)})`, { path });
  }
  const unmounted: string[] = [];
  const failures = new Map<string, string>();
  // A lazy detach of a parent takes its children with it, and a mount can be stacked several times on
  // one path, so re-read the table after each pass rather than trusting the first listing; stop when a
  // pass makes no progress.
  for (let pass = 0; pass < 8; pass++) {
    const todo = deepestFirst((await readMountinfo(undefined, [root])).filter((m) => isAtOrUnder(m.mountPoint, root)));
    if (todo.length === 0) return done();
    let progressed = false;
    for (const m of todo) {
      const r = o.useUmountTool || mayHang(m) || (o.umount === undefined && !sysAvailable()) ? await detach(m.mountPoint, o) : detachNow(m.mountPoint, o);
      if (r === 'ok') {
        unmounted.push(m.mountPoint);
        failures.delete(m.mountPoint);
        progressed = true;
      } else if (r !== 'gone') {
        failures.set(m.mountPoint, r);
      } else {
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  const left = (await readMountinfo(undefined, [root])).filter((m) => isAtOrUnder(m.mountPoint, root));
  if (left.length === 0) return done();
  const list: UnmountFailure[] = left.map((m) => ({ mountPoint: m.mountPoint, message: failures.get(m.mountPoint) ?? 'still mounted' }));
  for (const f of list) o.debug?.(`rootfs: cannot unmount ${f.mountPoint}: ${f.message}`);
  const first = list[0] as UnmountFailure;
  throw new RootfsError(
    'ROOTFS_UNMOUNT',
    `cannot unmount ${first.mountPoint}: ${first.message}${list.length > 1 ? ` (and ${list.length - 1} more under ${root})` : ''}`,
    { path: first.mountPoint, unmounted, failures: list },
  );

  function done(): { unmounted: string[] } {
    return { unmounted };
  }
}

/**
 * Filesystems whose umount can wait on something outside this host (a server, a FUSE daemon): those go
 * through umount(8), which a timeout can kill. Every other unmount is a system call in this process,
 * without the fork and exec of umount(8) (~5 ms each, a few per pod that gc removes).
 */
function mayHang(m: MountInfo): boolean {
  return /^(nfs|nfs4|cifs|smb3?|ceph|glusterfs|9p|afs|lustre|ocfs2|gfs2|fuse|fuseblk|fuse\..*|virtiofs)$/.test(m.fsType);
}

/** As `detach`, with umount2(2): the caller's (`o.umount`) or this package's addon. */
function detachNow(mountPoint: string, o: UnmountOptions): 'ok' | 'gone' | string {
  // NOFOLLOW: mountinfo's paths are canonical, and a symlink put in place of one meanwhile is not followed.
  const attempt = (flags: number): 'ok' | 'gone' | 'busy' | string => {
    try {
      (o.umount ?? umount)(mountPoint, flags | UMOUNT_NOFOLLOW);
      return 'ok';
    } catch (err) {
      const code = (err as { code?: string }).code;
      // EINVAL: not a mount point (any more); ENOENT: the path is gone with it.
      if (code === 'EINVAL' || code === 'ENOENT') return 'gone';
      if (code === 'EBUSY') return 'busy';
      return (err as Error).message;
    }
  };
  if (!o.lazy) {
    const r = attempt(0);
    if (r !== 'busy') return r;
    o.debug?.(`rootfs: ${mountPoint} is busy (a process uses it); detaching it lazily`);
  }
  const r = attempt(MNT_DETACH);
  return r === 'busy' ? `${mountPoint}: target is busy` : r;
}

/** 'ok', 'gone' (not mounted any more), or the reason it failed. */
async function detach(mountPoint: string, o: UnmountOptions): Promise<'ok' | 'gone' | string> {
  // -i: no umount.<type> helpers (a FUSE helper could hang); --no-canonicalize: mountinfo paths are
  // canonical already, and canonicalizing stats the path, which can hang on a dead network mount.
  const base = ['-i', '--no-canonicalize'];
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (!o.lazy) {
    const r = await runTool('umount', [...base, mountPoint], { timeoutMs });
    if (r.code === 0) return 'ok';
    if (/not mounted|no mount point specified|mountpoint not found/i.test(r.stderr)) return 'gone';
    if (r.timedOut) {
      o.debug?.(`rootfs: umount of ${mountPoint} did not finish within ${timeoutMs} ms; detaching it lazily`);
    } else if (/busy/i.test(r.stderr)) {
      o.debug?.(`rootfs: ${mountPoint} is busy (a process uses it); detaching it lazily`);
    } else {
      return firstLine(r.stderr);
    }
  }
  // Lazy detach (MNT_DETACH) removes the mount from the tree now; the filesystem lives on only for the
  // processes still inside it, out of everyone else's reach, and is freed when the last one leaves.
  const r = await runTool('umount', [...base, '--lazy', mountPoint], { timeoutMs });
  if (r.code === 0) return 'ok';
  if (/not mounted|no mount point specified|mountpoint not found/i.test(r.stderr)) return 'gone';
  return firstLine(r.stderr);
}
