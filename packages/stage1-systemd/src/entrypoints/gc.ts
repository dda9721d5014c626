import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Stage1GcContext } from '@rkt/controller';
import { unmountTree } from '@rkt/rootfs-overlay';
import { findCgroups, killCgroupTrees, machineScopeName, nspawnHierarchyRoots, removeCgroupTree } from '../cgroups.js';
import { isolationHierarchyRoots } from '../pod-isolation.js';
import { fail, parseEntrypointArgs } from './args.js';

// The gc entrypoint, both ways from one bundle (`/rkt/gc`): executed (`coreos.com/rkt/stage1/gc`, by any
// stage0) it is the gc process; required by stage0 (`rkt-ts.dev/stage1/gc-module`, version 1: see
// @rkt/controller's README) `rkt gc` calls `gc` for each pod without a Node start per pod.

/** The version of the gc-module interface that `gc` implements. */
export const gcModuleVersion = 1;

/**
 * `coreos.com/rkt/stage1/gc`: `[--debug] UUID`, in the pod directory. nspawn's mounts live in the pod's
 * own mount namespace and die with it; what may remain in the host namespace is under the pod directory
 * (the apps' overlays, and the pod's root: its overlay and tmpfs at `stage1-root`), so that is what gc
 * releases, lazily if still busy. nspawn itself leaves nothing on the host: the root it once made in the
 * host's /tmp (--volatile=overlay) is the pod's own now (stage1-root.ts). A run entrypoint that was
 * killed before its own clean-up also leaves nspawn's propagation directory and the pod's cgroups
 * (`rkt-UUID`), removed here after whatever is left in them is killed, and the pod's CNI networks.
 */
export async function gc(args: readonly string[], context: Stage1GcContext): Promise<void> {
  const { options, rest } = parseEntrypointArgs(args);
  const uuid = rest[0];
  if (uuid === undefined || !/^[0-9a-f-]+$/.test(uuid)) throw new Error('usage: gc [--debug] UUID');
  // A run killed before its own clean-up left the pod's CNI networks: each torn down with its plugin's DEL
  // (veth, masquerading rules, IPAM lease), then its network namespace unmounted and removed.
  if (existsSync(join(context.podDir, 'netns')) || existsSync(`/run/netns/rkt-${uuid}`)) {
    const { pluginTimeouts, teardownPodNetworks } = await import('@rkt/cni');
    teardownPodNetworks({
      podDir: context.podDir,
      uuid,
      // Each DEL's deadline (RKT_CNI_DEL_TIMEOUT): a plugin that hangs holds gc up no longer than that.
      timeouts: pluginTimeouts(),
      ...(context.umount !== undefined ? { umount: context.umount } : {}),
      warn: (line) => process.stderr.write(`stage1-systemd gc: networking: ${line}\n`),
    });
  }
  const { unmounted } = await unmountTree(context.podDir, { lazy: true, ...(context.umount !== undefined ? { umount: context.umount } : {}) });
  rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  const roots = [...nspawnHierarchyRoots(), ...isolationHierarchyRoots()];
  // The pod has exited (gc runs on unlocked pods only): a process still in its cgroups is an orphan of it,
  // left by an nspawn and a run killed together (nobody was left to end the pod's systemd, re-parented to
  // the host's init), and is killed before the cgroups can go.
  const { left } = await killCgroupTrees(roots.flatMap((r) => [...findCgroups(r, `rkt-${uuid}`), ...findCgroups(r, machineScopeName(uuid))]));
  if (left.length > 0) throw new Error(`pod ${uuid}: ${left.length} processes left in its cgroups could not be killed (${left.join(', ')})`);
  for (const root of roots) for (const c of findCgroups(root, `rkt-${uuid}`)) removeCgroupTree(c);
  if (options.get('debug') === 'true') for (const m of unmounted) process.stderr.write(`stage1-systemd gc: unmounted ${m}\n`);
}

// Executed, not required.
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  gc(process.argv.slice(2), { podDir: process.cwd() }).catch((err: unknown) => fail('gc', err));
}
