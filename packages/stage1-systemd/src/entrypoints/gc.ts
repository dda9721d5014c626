import { unmountTree } from '@rkt/rootfs-overlay';
import { fail } from './args.js';

/**
 * `coreos.com/rkt/stage1/gc`: `[--debug] UUID`, in the pod directory. nspawn's mounts live in the pod's
 * own mount namespace and die with it; what may remain in the host namespace is under the pod directory
 * (the apps' overlays), so that is what gc releases, lazily if still busy.
 */
async function main(): Promise<void> {
  const { unmounted } = await unmountTree(process.cwd(), { lazy: true });
  if (process.argv.includes('--debug')) for (const m of unmounted) process.stderr.write(`stage1-systemd gc: unmounted ${m}\n`);
}

main().catch((err: unknown) => fail('gc', err));
