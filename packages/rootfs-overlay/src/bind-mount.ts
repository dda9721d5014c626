import { isAtOrUnder } from './canonical-path.js';
import { RootfsError } from './errors.js';
import { readMountinfo } from './mountinfo/read-mountinfo.js';
import { firstLine, runTool } from './run-tool.js';

export interface BindMountOptions {
  /** A host path (a directory or a file); the host's own symlinks in it are followed. */
  readonly source: string;
  /** Absolute, canonical and existing, of the same kind as `source` (see `resolveInRoot`). */
  readonly target: string;
  /** Really read-only: mount(8) remounts the bind with MS_RDONLY|MS_BIND after making it. */
  readonly readOnly?: boolean;
  /** `--rbind`: the mounts below `source` come along (read-only too, with `readOnly`). */
  readonly recursive?: boolean;
}

/**
 * Bind-mounts `source` on `target`, read-only if asked, and private: a bind of a shared mount would
 * otherwise join its peer group, and a mount later made below the target (a nested volume) would then
 * propagate back into the host's source directory, where no gc would find it. One mount(8) call does the
 * bind, the read-only remount and the propagation change.
 *
 * ```ts
 * await bindMount({ source: '/srv/data', target: hostPath, readOnly: true, recursive: true });
 * ```
 */
export async function bindMount(o: BindMountOptions): Promise<void> {
  const args = [
    // The target was resolved inside an app's root: mount(8) must not resolve it again on the host.
    '--no-canonicalize',
    o.recursive ? '--rbind' : '--bind',
    ...(o.readOnly ? ['-o', 'ro'] : []),
    o.recursive ? '--make-rprivate' : '--make-private',
    '--',
    o.source,
    o.target,
  ];
  const r = await runTool('mount', args);
  if (r.code !== 0) {
    throw new RootfsError('ROOTFS_MOUNT', `cannot bind ${o.source} on ${o.target}: ${firstLine(r.stderr) || `mount exited with ${r.code}`}`, { path: o.target });
  }
  if (o.readOnly && o.recursive) {
    // mount(8) here (util-linux 2.38) makes only the top of an rbind read-only; each mount that came
    // along below it gets its own read-only remount, or it would stay writable.
    const below = (await readMountinfo()).filter((m) => m.mountPoint !== o.target && isAtOrUnder(m.mountPoint, o.target));
    for (const m of below) {
      const rr = await runTool('mount', ['--no-canonicalize', '-o', 'remount,bind,ro', '--', m.mountPoint]);
      if (rr.code !== 0) {
        throw new RootfsError('ROOTFS_MOUNT', `cannot make ${m.mountPoint} (below ${o.target}) read-only: ${firstLine(rr.stderr) || `mount exited with ${rr.code}`}`, {
          path: m.mountPoint,
        });
      }
    }
  }
}
