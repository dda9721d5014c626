import { mkdir, stat } from 'node:fs/promises';
import { RootfsError } from './errors.js';
import { kernelClockMicros, kernelMessagesSince, OVERLAY_LOG_PREFIXES } from './kernel-log.js';
import { overlayPathOption } from './overlay-options.js';
import { mount } from './sys.js';

export interface OverlayDirs {
  /** Read-only lower tree (the rendered image), shared by every pod of the image. */
  lower: string;
  /** Per-pod directory that receives every change; created if missing. */
  upper: string;
  /** overlayfs's scratch directory; must be on the upper's filesystem; created if missing. */
  work: string;
  /** Where the merged tree appears; created if missing. */
  target: string;
  /** More mount options (`volatile`, `index=off`, ...) appended as given. */
  extraOptions?: readonly string[];
}

/**
 * Mounts an overlay of `lower` with `upper`/`work` at `target`, with mount(2) itself (sys.ts). All paths
 * must be absolute; the kernel resolves them. Nothing here canonicalizes them (that would stat every path,
 * and a stat can hang on a dead network or FUSE mount): a caller that matches the mount against mountinfo
 * later passes canonical ones (`mountAppRootfs`).
 */
export async function mountOverlay(d: OverlayDirs): Promise<void> {
  const options = [
    overlayPathOption('lowerdir', d.lower),
    overlayPathOption('upperdir', d.upper),
    overlayPathOption('workdir', d.work),
    ...(d.extraOptions ?? []),
  ].join(',');
  await Promise.all([mkdir(d.upper, { recursive: true }), mkdir(d.work, { recursive: true }), mkdir(d.target, { recursive: true })]);
  const [u, w] = await Promise.all([stat(d.upper), stat(d.work)]);
  if (u.dev !== w.dev) {
    // The kernel's answer would be a bare EINVAL; say which rule was broken.
    throw new RootfsError('ROOTFS_BAD_INPUT', `overlay upper ${d.upper} and work dir ${d.work} are on different filesystems; they must share one`, {
      path: d.work,
    });
  }
  const since = kernelClockMicros();
  let failure: Error;
  try {
    mount('overlay', d.target, 'overlay', 0, options);
    return;
  } catch (err) {
    if (err instanceof RootfsError) throw err;
    failure = err as Error;
  }
  const kernel = await kernelMessagesSince(since - 1000, OVERLAY_LOG_PREFIXES);
  // mount(2) says little more than EINVAL; the kernel's line says what was actually wrong, so prefer it
  // when there is one.
  const why = kernel.length > 0 ? `kernel: ${kernel.join('; ')}` : failure.message;
  throw new RootfsError('ROOTFS_MOUNT', `cannot mount overlay of ${d.lower} at ${d.target}: ${why}`, { path: d.target, cause: failure });
}
