import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ownerAlive } from '@rkt/image-store';
import { removeStaleOverlayProbes } from '@rkt/rootfs-overlay';
import { PodError } from './errors.js';
import { podEvent } from './events.js';
import { tryLockDir, unlock } from './lock.js';
import { deleteGarbagePod, keepImagesReferenced, type DeleteContext } from './delete.js';
import { podPath, podsDir } from './layout.js';
import { listPods, type PodSnapshot } from './pods.js';
import { readPodInfo } from './info.js';
import { markRemoving } from './removing-mark.js';

/** rkt's defaults: exited pods are kept 30 minutes after marking, unused prepared pods 24 hours. */
export const DEFAULT_GC_GRACE_MS = 30 * 60e3;
export const DEFAULT_PREPARED_EXPIRY_MS = 24 * 3600e3;

const EMBRYO_EXPIRY_MS = 60e3;

export interface GcOptions extends DeleteContext {
  readonly gracePeriodMs?: number;
  readonly expirePreparedMs?: number;
  readonly markOnly?: boolean;
  readonly now?: Date;
}

export interface GcResult {
  readonly marked: string[];
  readonly removed: string[];
  /** Pods gc could not handle, with why; gc carries on past each. */
  readonly failed: { uuid: string; error: string }[];
}

/**
 * rkt's gc: exited pods are marked (moved to `exited-garbage/`, the move time kept as the
 * directory's mtime), aborted prepares and expired prepared pods go to `garbage/`; then marked pods
 * older than the grace period go to `garbage/`, and everything in `garbage/` is deleted. A pod that
 * fails is reported and skipped: one faulty pod never stops the collection of the others.
 */
export async function gcPods(o: GcOptions): Promise<GcResult> {
  const now = o.now ?? new Date();
  const grace = o.gracePeriodMs ?? DEFAULT_GC_GRACE_MS;
  const expiry = o.expirePreparedMs ?? DEFAULT_PREPARED_EXPIRY_MS;
  const result: GcResult = { marked: [], removed: [], failed: [] };
  const attempt = async (pod: PodSnapshot, step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (err) {
      // Moved or removed meanwhile by another rkt (run-prepared took it, rm or another gc removed it):
      // nothing is left here for this gc to do, and nothing failed.
      if (!existsSync(pod.path)) return;
      result.failed.push({ uuid: pod.uuid, error: (err as Error).message });
    }
  };

  for (const pod of listPods(o.dataDir)) {
    if (pod.state === 'exited') {
      await attempt(pod, async () => {
        if (await markExited(o.dataDir, pod, now)) {
          result.marked.push(pod.uuid);
          o.bus?.publish(podEvent('pod/marked', pod.uuid, {}));
        }
      });
    } else if (pod.state === 'aborted prepare') {
      await attempt(pod, () => toGarbage(o, pod));
    } else if (pod.state === 'embryo') {
      // An embryo is locked and moved on within milliseconds of its mkdir; one left unlocked for a
      // minute belongs to a process killed in between.
      await attempt(pod, async () => {
        if (now.getTime() - (await stat(pod.path)).mtimeMs >= EMBRYO_EXPIRY_MS) await toGarbage(o, pod);
      });
    } else if (pod.state === 'prepared') {
      await attempt(pod, async () => {
        const created = await readPodInfo(pod.path).then(
          (i) => new Date(i.createdAt).getTime(),
          async () => (await stat(pod.path)).mtimeMs,
        );
        if (now.getTime() - created >= expiry) await toGarbage(o, pod);
      });
    }
  }
  if (o.markOnly) return result;
  removeDeadEmbryos(o.dataDir);
  // A first `rkt run` killed while it probed the data dir for overlay support left its probe mounted there.
  await removeStaleOverlayProbes(o.dataDir);

  for (const pod of listPods(o.dataDir)) {
    if (pod.state !== 'exited garbage') continue;
    await attempt(pod, async () => {
      const marked = (await stat(pod.path)).mtimeMs;
      if (now.getTime() - marked >= grace) await toGarbage(o, pod);
    });
  }
  for (const pod of listPods(o.dataDir)) {
    if (pod.state !== 'garbage') continue;
    await attempt(pod, async () => {
      if ((await deleteGarbagePod(o, pod.uuid)) === 'deleted') result.removed.push(pod.uuid);
    });
  }
  return result;
}

/**
 * Embryos of killed rkt processes: named after their creator (`preparePod`), empty, and never a pod yet (no
 * UUID, no reference in the store), so they are removed as soon as their creator is gone.
 */
function removeDeadEmbryos(dataDir: string): void {
  const dir = join(podsDir(dataDir), 'embryo');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith('embryo-') && !ownerAlive(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * run/ → exited-garbage/, under the lock, which nobody else holds then (`rkt export` holds it shared to keep the
 * pod where it is), and marked as a remover's lock first (`markRemoving`): locked in run/, the pod looked running.
 */
async function markExited(dataDir: string, pod: PodSnapshot, now: Date): Promise<boolean> {
  markRemoving(pod.path, pod.uuid);
  // A lock that is busy, even if only for a check, leaves the pod to the next gc.
  const fd = tryLockDir(pod.path, 0);
  if (fd === undefined) return false;
  try {
    const target = podPath(dataDir, 'exited-garbage', pod.uuid);
    await mkdir(dirname(target), { recursive: true });
    await rename(pod.path, target);
    await utimes(target, now, now);
    return true;
  } finally {
    unlock(fd);
  }
}

async function toGarbage(ctx: DeleteContext, pod: PodSnapshot): Promise<void> {
  // An aborted prepare locked in prepare/ looked as being prepared.
  if (pod.stateDir === 'prepare') markRemoving(pod.path, pod.uuid);
  const fd = pod.stateDir === 'exited-garbage' ? undefined : tryLockDir(pod.path, 0);
  if (pod.stateDir !== 'exited-garbage' && fd === undefined) return;
  try {
    await keepImagesReferenced(ctx, pod.uuid);
    const target = podPath(ctx.dataDir, 'garbage', pod.uuid);
    await mkdir(dirname(target), { recursive: true });
    await rename(pod.path, target);
  } catch (err) {
    throw new PodError('POD_IO', `cannot move pod ${pod.uuid} to garbage: ${(err as Error).message}`, { subject: pod.uuid, cause: err });
  } finally {
    if (fd !== undefined) unlock(fd);
  }
}
