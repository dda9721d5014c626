// The gc entrypoint, both ways from one bundle (`/fly/gc`): executed (`coreos.com/rkt/stage1/gc`, by any
// stage0) it is the gc process; required by stage0 (`rkt-ts.dev/stage1/gc-module`, version 1: see
// @rkt/controller's README) `rkt gc` calls `gc` for each pod without a Node start per pod.
import type { Stage1GcContext } from '@rkt/controller';
import { unmountTree } from '@rkt/rootfs-overlay';
import { fail } from './args.js';

/** The version of the gc-module interface that `gc` implements. */
export const gcModuleVersion = 1;

/**
 * `coreos.com/rkt/stage1/gc`: `[--debug] UUID`, in the pod directory. Fly's own mounts (/proc,
 * /sys, /dev) live in the app's private mount namespace and die with it; what may remain in the
 * host namespace is under the pod directory, so that is what gc releases, lazily if still busy.
 */
export async function gc(args: readonly string[], context: Stage1GcContext): Promise<void> {
  const { unmounted } = await unmountTree(context.podDir, { lazy: true, ...(context.umount !== undefined ? { umount: context.umount } : {}) });
  if (args.includes('--debug')) for (const m of unmounted) process.stderr.write(`stage1-fly gc: unmounted ${m}\n`);
}

// Executed, not required.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  gc(process.argv.slice(2), { podDir: process.cwd() }).catch((err: unknown) => fail('gc', err));
}
