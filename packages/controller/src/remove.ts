import { PodError } from './errors.js';
import { podEvent } from './events.js';
import { deleteGarbagePod, moveToGarbage, type DeleteContext } from './delete.js';
import { findPod } from './pods.js';

/**
 * `rkt rm`: removes a pod that is not running now (exited, prepared, an aborted prepare or already
 * garbage), without waiting for a grace period. Returns the full UUID.
 */
export async function removePod(ctx: DeleteContext, uuidOrPrefix: string): Promise<string> {
  const pod = findPod(ctx.dataDir, uuidOrPrefix);
  if (pod.state === 'running' || pod.state === 'preparing' || pod.state === 'embryo' || pod.state === 'deleting') {
    throw new PodError('POD_STATE', `pod ${pod.uuid} is ${pod.state}: stop it first`, { subject: pod.uuid });
  }
  await moveToGarbage(ctx, pod);
  const r = await deleteGarbagePod(ctx, pod.uuid);
  if (r === 'busy') throw new PodError('POD_LOCKED', `pod ${pod.uuid} is being deleted by another rkt`, { subject: pod.uuid });
  ctx.bus?.publish(podEvent('pod/removed', pod.uuid, {}));
  return pod.uuid;
}
