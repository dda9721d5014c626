import { isLocked } from './lock.js';
import { heldByPod } from './removing-mark.js';
import type { PodSnapshot } from './pods.js';
import { readPodPids, type PodPids } from './stage1-abi/pod-pids.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * rkt's ContainerPid1: a pod is running from the moment its runner moves it into `run/`, but its stage1 names
 * its first process (`pid`, or `ppid` and its one child) only once it has started it, after the rootfs mounts.
 * A stop or an enter in between found no pid, so they wait, as rkt's did, for as long as the pod runs: the
 * pids once `enough` says they are, or undefined when the pod stopped running meanwhile.
 */
export async function waitForPodPids(pod: PodSnapshot, enough: (pids: PodPids) => boolean): Promise<PodPids | undefined> {
  for (;;) {
    const pids = readPodPids(pod.path);
    if (enough(pids)) return pids;
    // Checked after the pids: a pod that ended after writing them has them.
    if (isLocked(pod.path) !== true || heldByPod(pod.stateDir, pod.path) !== true) return undefined;
    await sleep(10);
  }
}
