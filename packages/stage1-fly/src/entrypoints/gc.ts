import { unmountTree } from '@rkt/rootfs-overlay';
import { fail } from './args.js';

/**
 * `coreos.com/rkt/stage1/gc`: `[--debug] UUID`, in the pod directory. Fly's own mounts (/proc,
 * /sys, /dev) live in the app's private mount namespace and die with it; what may remain in the
 * host namespace is under the pod directory, so that is what gc releases, lazily if still busy.
 */
async function main(): Promise<void> {
  const { unmounted } = await unmountTree(process.cwd(), { lazy: true });
  if (process.argv.includes('--debug')) for (const m of unmounted) process.stderr.write(`stage1-fly gc: unmounted ${m}\n`);
}

main().catch((err: unknown) => fail('gc', err));
