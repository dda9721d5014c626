import { closeSync, fstatSync, statSync } from 'node:fs';
import { isAtOrUnder } from './canonical-path.js';
import { RootfsError } from './errors.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import { openNoFollow } from './open-no-follow.js';
import { firstLine, runTool } from './run-tool.js';

export interface BindMountOptions {
  /** A host path (a directory or a file); the host's own symlinks in it are followed. */
  readonly source: string;
  /** Absolute, free of symlinks and existing, of the same kind as `source` (see `resolveInRoot`). */
  readonly target: string;
  /** Really read-only: mount(8) remounts the bind with MS_RDONLY|MS_BIND after making it. */
  readonly readOnly?: boolean;
  /** `--rbind`: the mounts below `source` come along (read-only too, with `readOnly`). */
  readonly recursive?: boolean;
}

/**
 * Bind-mounts `source` on `target`, read-only if asked, and private: a bind of a shared mount would
 * otherwise join its peer group, and a mount later made below the target (a nested volume) would then
 * propagate back into the host's source directory, where no gc would find it.
 *
 * Every mount(8) call names its target as `/proc/<pid>/fd/<n>`, a handle opened without following any
 * symlink (`openNoFollow`), with `--no-canonicalize`: the kernel mounts on exactly the object this
 * process checked, even if another pod sharing a host volume swaps a directory for a symlink meanwhile.
 * Such a handle names the directory under a mount, not the mount on it, so the read-only remount and the
 * propagation change go through a second handle opened after the bind, on the new mount's root (checked
 * to be the source's inode).
 *
 * ```ts
 * await bindMount({ source: '/srv/data', target: hostPath, readOnly: true, recursive: true });
 * ```
 */
export async function bindMount(o: BindMountOptions): Promise<void> {
  const fail = (what: string, stderr: string, code: number, path = o.target): RootfsError =>
    new RootfsError('ROOTFS_MOUNT', `${what}: ${firstLine(stderr) || `mount exited with ${code}`}`, { path });
  const sourceStat = statSync(o.source);
  const at = (fd: number): string => `/proc/${process.pid}/fd/${fd}`;
  const before = openNoFollow(o.target);
  try {
    const r = await runTool('mount', ['--no-canonicalize', o.recursive ? '--rbind' : '--bind', '--', o.source, at(before)]);
    if (r.code !== 0) throw fail(`cannot bind ${o.source} on ${o.target}`, r.stderr, r.code);
  } finally {
    closeSync(before);
  }
  const root = openNoFollow(o.target);
  try {
    const st = fstatSync(root);
    if (st.dev !== sourceStat.dev || st.ino !== sourceStat.ino) {
      throw new RootfsError('ROOTFS_MOUNT', `${o.target} is not the bind of ${o.source} just made (changed meanwhile)`, { path: o.target });
    }
    const r = await runTool('mount', [
      '--no-canonicalize',
      ...(o.readOnly ? ['-o', 'remount,bind,ro'] : []),
      o.recursive ? '--make-rprivate' : '--make-private',
      '--',
      at(root),
    ]);
    if (r.code !== 0) throw fail(`cannot make the bind on ${o.target} ${o.readOnly ? 'read-only and ' : ''}private`, r.stderr, r.code);
  } finally {
    closeSync(root);
  }
  if (o.readOnly && o.recursive) {
    // A read-only remount applies to one mount: each mount that came along below gets its own.
    const below = (await readMountinfo(undefined, [o.target])).filter((m) => m.mountPoint !== o.target && isAtOrUnder(m.mountPoint, o.target));
    for (const m of below) {
      const fd = openNoFollow(m.mountPoint);
      try {
        const r = await runTool('mount', ['--no-canonicalize', '-o', 'remount,bind,ro', '--', at(fd)]);
        if (r.code !== 0) throw fail(`cannot make ${m.mountPoint} (below ${o.target}) read-only`, r.stderr, r.code, m.mountPoint);
      } finally {
        closeSync(fd);
      }
    }
  }
}
