import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { unmountTree } from '@rkt/rootfs-overlay';
import { sysAvailable, umount } from '@rkt/rootfs-overlay/sys';
import type { Store } from '@rkt/image-store';
import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { isErrno } from './fsutil.js';
import { lockDirAt, unlock } from './lock.js';
import { podPath, referencingPodDirs } from './layout.js';
import type { PodSnapshot } from './pods.js';
import { removePodDir } from './remove-pod-dir.js';
import { markRemoving } from './removing-mark.js';
import { loadGcModule } from './run-module.js';
import { stage1GcEntrypoints, type Stage1GcModuleRef } from './stage1.js';
import { relinkMovedStage1 } from './data-dir-paths.js';

export interface DeleteContext {
  readonly dataDir: string;
  readonly store: Pick<Store, 'releasePod' | 'extendPodDirs'>;
  readonly bus?: EventBus;
  readonly debug?: boolean;
  readonly log?: (message: string) => void;
  /**
   * Called with the locked pod directory before its stage1 gc: what stage0 set up outside the pod for it
   * (a metadata service registration) is undone here. A failure is logged and the pod removed anyway.
   */
  readonly beforeDelete?: (podDir: string, uuid: string) => Promise<void>;
}

/**
 * Makes the store's reference of a pod valid in every state that references images, `garbage/` included,
 * before the pod moves there: an older rkt-ts's pods (prepared before session 14) have references that
 * end at `exited-garbage/`, and an image gc would take their trees while they sit in `garbage/`, mounted.
 */
export function keepImagesReferenced(ctx: DeleteContext, uuid: string): Promise<boolean> {
  return ctx.store.extendPodDirs({ podUuid: uuid, podDirs: referencingPodDirs(ctx.dataDir, uuid) });
}

/**
 * Moves a pod to `garbage/`, locking it first when it sits where a runner could take it; `moving` is told just
 * before the rename, with the lock held. Returns the lock, still held (a flock stays with the directory across its
 * rename), for the caller to delete the pod with (`deleteGarbagePod`'s `held`), so that no other rkt takes the pod
 * between its move and its deletion; undefined when none was needed (the pod was in `garbage/` or `exited-garbage/`).
 */
export async function moveToGarbage(ctx: DeleteContext, pod: PodSnapshot, moving?: () => void): Promise<number | undefined> {
  const target = podPath(ctx.dataDir, 'garbage', pod.uuid);
  if (pod.stateDir === 'garbage') return undefined;
  // A prepared pod could be picked up by run-prepared meanwhile, and `rkt export` keeps an exited one where it is
  // (its lock held shared): held across the rename. Marked first where the lock would say the pod runs.
  if (pod.stateDir === 'run' || pod.stateDir === 'prepare') markRemoving(pod.path, pod.uuid);
  const lock = pod.stateDir === 'prepared' || pod.stateDir === 'run' || pod.stateDir === 'prepare' ? lockDirAt(pod.path) : undefined;
  // Whoever holds it is moving it on (run-prepared, another rm, gc), or reading it (export).
  if (lock === 'busy') throw new PodError('POD_LOCKED', `pod ${pod.uuid} is in use by another rkt`, { subject: pod.uuid });
  if (lock === 'gone') throw new PodError('POD_STATE', `pod ${pod.uuid} moved meanwhile`, { subject: pod.uuid });
  const fd = lock;
  try {
    await keepImagesReferenced(ctx, pod.uuid);
    await mkdir(dirname(target), { recursive: true });
    moving?.();
    await rename(pod.path, target);
  } catch (err) {
    if (fd !== undefined) unlock(fd);
    if (isErrno(err, 'ENOENT')) throw new PodError('POD_STATE', `pod ${pod.uuid} moved meanwhile`, { subject: pod.uuid });
    throw err;
  }
  return fd;
}

/**
 * Deletes a pod in `garbage/`: locked ("deleting") so two gcs never collide, then the stage1 gc
 * entrypoint, then every mount under the pod (lazily if busy: a stuck mount must not leak the
 * pod or stop gc), the directory, and the store's reference to its images. `held`: its lock, which the caller
 * took (`moveToGarbage`'s) and this lets go.
 */
export async function deleteGarbagePod(ctx: DeleteContext, uuid: string, held?: number): Promise<'deleted' | 'busy' | 'gone'> {
  const dir = podPath(ctx.dataDir, 'garbage', uuid);
  // 'gone': another rkt deleted it while this one waited for the lock, and that one says it removed the pod.
  const fd = held ?? lockDirAt(dir);
  if (typeof fd !== 'number') return fd;
  try {
    // One an older rkt-ts left here (its gc killed) keeps its stage1's tree while that gc runs.
    await keepImagesReferenced(ctx, uuid);
    let entry: string | undefined;
    let module: Stage1GcModuleRef | undefined;
    try {
      // Made by an older rkt-ts in a data directory moved since: its stage1 gc runs through the link.
      relinkMovedStage1(ctx.dataDir, dir);
      ({ executable: entry, module } = stage1GcEntrypoints(dir));
    } catch (err) {
      // A pod that died before its stage1 was set up has no stage1 to ask.
      ctx.log?.(`pod ${uuid}: no stage1 gc: ${(err as Error).message}`);
    }
    if (ctx.beforeDelete !== undefined) {
      await ctx.beforeDelete(dir, uuid).catch((err: unknown) => ctx.log?.(`pod ${uuid}: ${(err as Error).message}; removing the pod anyway`));
    }
    const args = [...(ctx.debug ? ['--debug'] : []), uuid];
    const loaded = module === undefined ? undefined : 'unusable' in module ? module : loadGcModule(module.path);
    if (loaded !== undefined && 'module' in loaded) {
      // With this process's umount2(2): the module's own bundle has no addon, and would run umount(8) per mount.
      await loaded.module.gc(args, { podDir: dir, ...(sysAvailable() ? { umount } : {}) }).catch((err: unknown) => ctx.log?.(`pod ${uuid}: stage1 gc module failed: ${(err as Error).message}; removing the pod anyway`));
    } else if (entry !== undefined) {
      if (loaded !== undefined) ctx.log?.(`pod ${uuid}: not using the stage1 gc module: ${loaded.unusable}; executing ${entry}`);
      // A pod killed while its stage1's tree was rendered, or whose stage1 tree is gone, has no entrypoint to
      // run (ENOENT): like a failing one, it must not keep the pod, or every later gc, forever.
      const status = await runEntrypoint(entry, args, dir).catch((err: unknown) => `not run (${(err as Error).message})`);
      if (status !== 0) ctx.log?.(`pod ${uuid}: stage1 gc ${typeof status === 'number' ? `exited with ${status}` : status}; removing the pod anyway`);
    }
    await unmountTree(dir, { lazy: true, ...(ctx.log ? { debug: ctx.log } : {}) });
    // A file that cannot go (an immutable one) keeps the pod in garbage/, referencing its images: the next gc tries again.
    await removePodDir(dir);
    await ctx.store.releasePod(uuid);
    ctx.bus?.publish(podEvent('pod/garbage-collected', uuid, {}));
    return 'deleted';
  } finally {
    unlock(fd);
  }
}

export function runEntrypoint(entry: string, args: readonly string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(entry, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
