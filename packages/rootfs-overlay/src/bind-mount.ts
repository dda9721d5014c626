import { closeSync, fstatSync, statSync } from 'node:fs';
import { isAtOrUnder } from './canonical-path.js';
import { RootfsError } from './errors.js';
import type { MountInfo } from './mountinfo/parse-mountinfo.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import { openNoFollow } from './open-no-follow.js';
import { firstLine, runTool } from './run-tool.js';
import { mount, sysAvailable } from './sys.js';

export interface BindMountOptions {
  /** A host path (a directory or a file); the host's own symlinks in it are followed. */
  readonly source: string;
  /** Absolute, free of symlinks and existing, of the same kind as `source` (see `resolveInRoot`). */
  readonly target: string;
  /** Really read-only: mount(8) remounts the bind with MS_RDONLY|MS_BIND after making it. */
  readonly readOnly?: boolean;
  /** `--rbind`: the mounts below `source` come along (read-only too, with `readOnly`). */
  readonly recursive?: boolean;
  /** mount(8) rather than mount(2), as where the addon does not load (a stage1's bundled code). */
  readonly useMountTool?: boolean;
}

/**
 * Bind-mounts `source` on `target`, read-only if asked, and private: a bind of a shared mount would
 * otherwise join its peer group, and a mount later made below the target (a nested volume) would then
 * propagate back into the host's source directory, where no gc would find it.
 *
 * Every mount names its target as `/proc/<pid>/fd/<n>`, a handle opened without following any symlink
 * (`openNoFollow`): the kernel mounts on exactly the object this process checked, even if another pod
 * sharing a host volume swaps a directory for a symlink meanwhile. Such a handle names the directory under a
 * mount, not the mount on it, so the read-only remount and the propagation change go through a second
 * handle opened after the bind, on the new mount's root (checked to be the source's inode).
 *
 * With mount(2) itself where the addon loads (sys.ts), else mount(8) with `--no-canonicalize`: the tool
 * cost two or three processes per volume, and loading child_process, 5-10 ms of a `rkt run --volume`.
 * The read-only remount names the mount's other flags again (nosuid, nodev, noexec, its atime mode, read from
 * mountinfo): a remount that names only MS_RDONLY clears them, and so did mount(8) for these targets.
 *
 * ```ts
 * await bindMount({ source: '/srv/data', target: hostPath, readOnly: true, recursive: true });
 * ```
 */
export async function bindMount(o: BindMountOptions): Promise<void> {
  const ops = o.useMountTool !== true && sysAvailable() ? syscallOps : toolOps;
  const sourceStat = statSync(o.source);
  const at = (fd: number): string => `/proc/${process.pid}/fd/${fd}`;
  const before = openNoFollow(o.target);
  try {
    await ops.bind(o.source, at(before), o.recursive === true, o.target);
  } finally {
    closeSync(before);
  }
  const root = openNoFollow(o.target);
  try {
    const st = fstatSync(root);
    if (st.dev !== sourceStat.dev || st.ino !== sourceStat.ino) {
      throw new RootfsError('ROOTFS_MOUNT', `${o.target} is not the bind of ${o.source} just made (changed meanwhile)`, { path: o.target });
    }
    await ops.finish(at(root), o.target, o.readOnly === true, o.recursive === true);
  } finally {
    closeSync(root);
  }
  if (o.readOnly && o.recursive) {
    // A read-only remount applies to one mount: each mount that came along below gets its own.
    const below = (await readMountinfo(undefined, [o.target])).filter((m) => m.mountPoint !== o.target && isAtOrUnder(m.mountPoint, o.target));
    for (const m of below) {
      const fd = openNoFollow(m.mountPoint);
      try {
        await ops.remountReadOnly(at(fd), m.mountPoint, m);
      } finally {
        closeSync(fd);
      }
    }
  }
}

/** The three steps of a bind, by mount(2) or by mount(8). `path` is what errors name; `at` what is mounted on. */
interface BindOps {
  bind(source: string, at: string, recursive: boolean, path: string): Promise<void>;
  /** Read-only if asked (the bind's own mount), then private. */
  finish(at: string, path: string, readOnly: boolean, recursive: boolean): Promise<void>;
  /** One mount below a recursive read-only bind; `m` is its mountinfo line. */
  remountReadOnly(at: string, path: string, m: MountInfo): Promise<void>;
}

const MS_RDONLY = 0x1;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 0x40000;
const MS_STRICTATIME = 0x1000000;
/** mountinfo's per-mount options (proc(5), the kernel's show_mnt_opts) and the mount(2) flags that set them. */
const MOUNT_FLAGS: ReadonlyMap<string, number> = new Map([
  ['nosuid', 0x2],
  ['nodev', 0x4],
  ['noexec', 0x8],
  ['nosymfollow', 0x100],
  ['noatime', 0x400],
  ['nodiratime', 0x800],
  ['relatime', 0x200000],
]);

/**
 * The per-mount options of the mount `m` a read-only bind remount must name again to keep them: the kernel
 * sets exactly the flags given. Without noatime or relatime it would default to relatime, so strictatime.
 */
function keptOptions(m: Pick<MountInfo, 'options'>): string[] {
  const opts = m.options.split(',');
  const kept = opts.filter((o) => MOUNT_FLAGS.has(o));
  return opts.includes('noatime') || opts.includes('relatime') ? kept : [...kept, 'strictatime'];
}

/** mount(2) flags of a read-only bind remount of `m` that keeps its other per-mount flags (`keptOptions`). */
export function readOnlyRemountFlags(m: Pick<MountInfo, 'options'>): number {
  return keptOptions(m).reduce((flags, o) => flags | (o === 'strictatime' ? MS_STRICTATIME : (MOUNT_FLAGS.get(o) ?? 0)), MS_REMOUNT | MS_BIND | MS_RDONLY);
}

/**
 * mount(8)'s options for the same remount. Given a `/proc/<pid>/fd/<n>` target, mount(8) 2.38 does not find
 * the mount in the table to merge its flags, and its `remount,bind,ro` cleared nosuid, nodev and noexec.
 */
function readOnlyRemountOptions(m: Pick<MountInfo, 'options'>): string {
  return ['remount', 'bind', 'ro', ...keptOptions(m)].join(',');
}

/** The mountinfo line of the mount on `path` (the topmost), for its flags. */
async function ownMount(path: string): Promise<MountInfo> {
  const own = (await readMountinfo(undefined, [path])).filter((m) => m.mountPoint === path).pop();
  if (own === undefined) throw new RootfsError('ROOTFS_MOUNT', `cannot make the bind on ${path} read-only: it is not in the mount table`, { path });
  return own;
}

function syscall(what: string, path: string, f: () => void): void {
  try {
    f();
  } catch (cause) {
    throw new RootfsError('ROOTFS_MOUNT', `${what}: ${(cause as Error).message}`, { path, cause });
  }
}

const syscallOps: BindOps = {
  async bind(source, at, recursive, path) {
    syscall(`cannot bind ${source} on ${path}`, path, () => mount(source, at, null, MS_BIND | (recursive ? MS_REC : 0), null));
  },
  async finish(at, path, readOnly, recursive) {
    if (readOnly) {
      const flags = readOnlyRemountFlags(await ownMount(path));
      syscall(`cannot make the bind on ${path} read-only`, path, () => mount(null, at, null, flags, null));
    }
    syscall(`cannot make the bind on ${path} private`, path, () => mount(null, at, null, MS_PRIVATE | (recursive ? MS_REC : 0), null));
  },
  async remountReadOnly(at, path, m) {
    syscall(`cannot make ${path} read-only`, path, () => mount(null, at, null, readOnlyRemountFlags(m), null));
  },
};

const toolOps: BindOps = {
  async bind(source, at, recursive, path) {
    const r = await runTool('mount', ['--no-canonicalize', recursive ? '--rbind' : '--bind', '--', source, at]);
    if (r.code !== 0) throw toolFailure(`cannot bind ${source} on ${path}`, r, path);
  },
  async finish(at, path, readOnly, recursive) {
    const remount = readOnly ? ['-o', readOnlyRemountOptions(await ownMount(path))] : [];
    const r = await runTool('mount', ['--no-canonicalize', ...remount, recursive ? '--make-rprivate' : '--make-private', '--', at]);
    if (r.code !== 0) throw toolFailure(`cannot make the bind on ${path} ${readOnly ? 'read-only and ' : ''}private`, r, path);
  },
  async remountReadOnly(at, path, m) {
    const r = await runTool('mount', ['--no-canonicalize', '-o', readOnlyRemountOptions(m), '--', at]);
    if (r.code !== 0) throw toolFailure(`cannot make ${path} read-only`, r, path);
  },
};

function toolFailure(what: string, r: { stderr: string; code: number }, path: string): RootfsError {
  return new RootfsError('ROOTFS_MOUNT', `${what}: ${firstLine(r.stderr) || `mount exited with ${r.code}`}`, { path });
}
