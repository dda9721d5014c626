import { RootfsError } from './errors.js';
import { firstLine, runTool } from './run-tool.js';

export interface BindMountOptions {
  /** A host path (a directory or a file); the host's own symlinks in it are followed. */
  readonly source: string;
  /** Absolute, canonical and existing, of the same kind as `source` (see `resolveInRoot`). */
  readonly target: string;
  /** Really read-only: mount(8) remounts the bind with MS_RDONLY|MS_BIND after making it. */
  readonly readOnly?: boolean;
  /** `--rbind`: the mounts below `source` come along. Only the top mount is made read-only. */
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
}
