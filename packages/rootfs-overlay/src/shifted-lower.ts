import { mkdir, rmdir } from 'node:fs/promises';
import { RootfsError } from './errors.js';
import { idmapBind, MNT_DETACH, umount } from './sys.js';

/** A pod's user namespace: its IDs 0..count-1 are the host's shift..shift+count-1. */
export interface IdShift {
  readonly shift: number;
  readonly count: number;
}

/**
 * Runs `use` with the tree `lower` visible at `attach` through an idmapped mount (its owners shifted by
 * `ids.shift`), and detaches it afterwards, however `use` ended: an overlay mounted on it keeps its own
 * reference to the layer, and a copy is done with it, so nothing of it stays mounted. The shared tree itself
 * is never written nor chowned (an idmapped mount changes how its owners appear, not the files).
 */
export async function withShiftedLower<T>(lower: string, attach: string, ids: IdShift, use: (shifted: string) => Promise<T>): Promise<T> {
  await mkdir(attach, { recursive: true });
  try {
    idmapBind(lower, attach, ids.shift, ids.count);
  } catch (cause) {
    await rmdir(attach).catch(() => {});
    throw new RootfsError(
      'ROOTFS_MOUNT',
      `cannot mount ${lower} with its owners shifted by ${ids.shift} (an idmapped mount) for a pod in a user namespace: ${(cause as Error).message}`,
      { path: lower, cause },
    );
  }
  try {
    return await use(attach);
  } finally {
    umount(attach, MNT_DETACH);
    await rmdir(attach);
  }
}
