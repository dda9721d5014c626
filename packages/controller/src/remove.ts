import { PodError } from './errors.js';
import { podEvent } from './events.js';
import { deleteGarbagePod, moveToGarbage, type DeleteContext } from './delete.js';
import { findPod, type PodSnapshot, type PodState } from './pods.js';

export interface RemoveContext extends DeleteContext {
  /**
   * Told just before the pod is moved to `garbage/` from `state` (rkt rm said so of a prepared pod and an aborted
   * prepare), its lock held from then until it is deleted: the rm told is the one that removes it.
   */
  readonly moving?: (state: PodState, uuid: string) => void;
}

/** How often rm follows a pod that another rkt moved between its look and its move (gc marked it, rm took it). */
const MOVES_FOLLOWED = 5;

/**
 * `rkt rm`: removes a pod that is not running now (exited, prepared, an aborted prepare or already
 * garbage), without waiting for a grace period. Returns the full UUID.
 */
export async function removePod(ctx: RemoveContext, uuidOrPrefix: string): Promise<string> {
  let pod = findPod(ctx.dataDir, uuidOrPrefix);
  let held: number | undefined;
  for (let moves = 0; ; moves++) {
    refuseInUse(pod);
    try {
      const { state, uuid } = pod;
      held = await moveToGarbage(ctx, pod, ctx.moving && (() => ctx.moving?.(state, uuid)));
      break;
    } catch (err) {
      // Another rkt held or moved the pod meanwhile: a gc marking it, a run-prepared starting it, another rm or
      // gc removing it. Looked at again where it is now, which says which (a pod now running is refused, one
      // gone was removed by the other), rather than failing on a state it has left.
      if (!(err instanceof PodError && (err.code === 'POD_LOCKED' || err.code === 'POD_STATE')) || moves >= MOVES_FOLLOWED) throw err;
      pod = findAgain(ctx.dataDir, pod.uuid);
    }
  }
  // With the lock it was moved under, if any: no other rkt took the pod in between.
  const r = await deleteGarbagePod(ctx, pod.uuid, held);
  if (r === 'busy') throw new PodError('POD_LOCKED', `pod ${pod.uuid} is being removed by another rkt`, { subject: pod.uuid });
  if (r === 'gone') throw removedMeanwhile(pod.uuid);
  ctx.bus?.publish(podEvent('pod/removed', pod.uuid, {}));
  return pod.uuid;
}

function findAgain(dataDir: string, uuid: string): PodSnapshot {
  try {
    return findPod(dataDir, uuid);
  } catch (err) {
    if (err instanceof PodError && err.code === 'POD_NOT_FOUND') throw removedMeanwhile(uuid, err);
    throw err;
  }
}

function removedMeanwhile(uuid: string, cause?: unknown): PodError {
  return new PodError('POD_NOT_FOUND', `pod ${uuid} was removed by another rkt meanwhile`, { subject: uuid, ...(cause !== undefined ? { cause } : {}) });
}

function refuseInUse(pod: PodSnapshot): void {
  if (pod.state === 'running') throw new PodError('POD_STATE', `pod ${pod.uuid} is running: stop it first`, { subject: pod.uuid });
  if (pod.state === 'preparing' || pod.state === 'embryo') {
    throw new PodError('POD_STATE', `pod ${pod.uuid} is being prepared: remove it once prepared`, { subject: pod.uuid });
  }
  if (pod.state === 'deleting') throw new PodError('POD_LOCKED', `pod ${pod.uuid} is being removed by another rkt`, { subject: pod.uuid });
}
