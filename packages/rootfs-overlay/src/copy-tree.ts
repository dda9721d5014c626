import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RootfsError } from './errors.js';
import { firstLine, runTool } from './run-tool.js';
import { randomBytes } from './lazy-crypto.js';

/**
 * Copies `lower` to `target` as an independent tree: the no-overlay fallback. GNU cp `-a` keeps owners,
 * modes, setuid bits, xattrs (file capabilities), device nodes, fifos, symlinks as links and hard links
 * between files of the tree; `--reflink=auto` shares data blocks copy-on-write where the filesystem can
 * (btrfs, xfs) and copies them elsewhere. It never hard-links into `lower`: a hard link would share the
 * inode, and an app writing "its" file would change the image for every other pod.
 *
 * The copy is made under a temporary name beside `target` and renamed into place, so `target` is
 * either absent/empty or complete, never half a tree.
 */
export async function copyTree(lower: string, target: string): Promise<void> {
  const existing = await readdir(target).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return [];
    throw new RootfsError('ROOTFS_BAD_INPUT', `copy target ${target} is not a directory: ${cause.message}`, { path: target, cause });
  });
  if (existing.length > 0) {
    throw new RootfsError('ROOTFS_BAD_INPUT', `copy target ${target} is not empty`, { path: target });
  }
  await mkdir(dirname(target), { recursive: true }).catch((cause: Error) => {
    throw new RootfsError('ROOTFS_COPY', `cannot create the parent of copy target ${target}: ${cause.message}`, { path: target, cause });
  });
  const tmp = join(dirname(target), `.${basename(target)}.copy-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const r = await runTool('cp', ['-a', '-T', '--reflink=auto', '--', lower, tmp]);
    if (r.code !== 0) {
      throw new RootfsError('ROOTFS_COPY', `cannot copy ${lower} to ${target}: ${firstLine(r.stderr)}`, { path: target });
    }
    // rename(2) replaces an empty directory, so a mount point prepared in advance is fine.
    await rename(tmp, target).catch((cause: Error) => {
      throw new RootfsError('ROOTFS_COPY', `cannot move the copy of ${lower} into ${target}: ${cause.message}`, { path: target, cause });
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
