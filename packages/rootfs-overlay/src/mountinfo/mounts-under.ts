import { canonicalPath, isAtOrUnder } from '../canonical-path.js';
import { readMountinfo } from './read-mountinfo.js';
import type { MountInfo } from './parse-mountinfo.js';

/**
 * Every mount whose mount point is `path` or lies below it, in mountinfo order (parents before the
 * mounts on top of them). `path` is resolved like the kernel resolves it, symlinks included.
 *
 * ```ts
 * const left = await mountsUnder('/var/lib/rkt/pods/run/' + uuid);   // [] once gc is done
 * ```
 */
export async function mountsUnder(path: string): Promise<MountInfo[]> {
  const root = await canonicalPath(path);
  return (await readMountinfo(undefined, [root])).filter((m) => isAtOrUnder(m.mountPoint, root));
}
