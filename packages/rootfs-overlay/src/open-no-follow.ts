import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { RootfsError } from './errors.js';

/** open(2)'s O_PATH (Linux, every architecture Node runs on): a handle to a place, not to its content. */
const O_PATH = 0o10000000;

/**
 * Opens an absolute, canonical path as an O_PATH handle, one component at a time from `/`, through the
 * handle of the component before (`/proc/self/fd/N/name`) with O_NOFOLLOW: no symlink is followed
 * anywhere, and each step looks the name up in exactly the directory the previous step opened. A symlink
 * (something changed since the path was resolved) is an error, never followed. The last lookup crosses a
 * mount on the name, as any path lookup does. The caller closes the returned descriptor.
 */
export function openNoFollow(path: string): number {
  if (!path.startsWith('/')) throw new RootfsError('ROOTFS_BAD_INPUT', `${JSON.stringify(path)} is not an absolute path`, { path });
  let fd = openSync('/', O_PATH | constants.O_DIRECTORY);
  try {
    for (const name of path.split('/').filter((c) => c !== '')) {
      if (name === '.' || name === '..') throw new RootfsError('ROOTFS_BAD_INPUT', `${path}: not a canonical path`, { path });
      const next = openSync(`/proc/self/fd/${fd}/${name}`, O_PATH | constants.O_NOFOLLOW);
      closeSync(fd);
      fd = next;
      if (fstatSync(fd).isSymbolicLink()) throw new RootfsError('ROOTFS_BAD_INPUT', `${path}: ${name} became a symbolic link`, { path });
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    if (err instanceof RootfsError) throw err;
    throw new RootfsError('ROOTFS_BAD_INPUT', `cannot open ${path}: ${(err as Error).message}`, { path, cause: err });
  }
}
