import { PodError } from './errors.js';
import { podEvent, type EventBus } from './events.js';
import { runEntrypoint } from './delete.js';
import { findPod, podDetails, type PodState } from './pods.js';
import { loadStopModule } from './run-module.js';
import { waitForPodPids } from './pod-pid-wait.js';
import { stage1StopEntrypoints } from './stage1.js';
import { relinkMovedStage1 } from './data-dir-paths.js';

/**
 * The states after a run, which rkt 1.30's stop took for already stopped (its `IsAfterRun`: exited, exited
 * garbage and their deletion, and also garbage and deleting, though a pod there never ran): not a failure.
 */
const AFTER_RUN: ReadonlySet<PodState> = new Set<PodState>(['exited', 'exited garbage', 'garbage', 'deleting']);

/** What `stopPod` did: stopped the pod, or found it stopped already (and did nothing). */
export interface StopOutcome {
  readonly uuid: string;
  readonly alreadyStopped: boolean;
}

/**
 * `rkt stop`: asks a running pod's stage1 to stop it (its stop entrypoint with `[--force] UUID`),
 * or, for a stage1 without one, signals the pod's pid (SIGTERM, SIGKILL with force). Returns the
 * full UUID, and whether the pod was stopped already. It does not wait: `rkt status --wait` does.
 * A pod neither running nor after its run (prepared, preparing...) is POD_STATE.
 */
export async function stopPod(o: { dataDir: string; uuid: string; force?: boolean; bus?: EventBus; log?: (message: string) => void }): Promise<StopOutcome> {
  const pod = findPod(o.dataDir, o.uuid);
  if (AFTER_RUN.has(pod.state)) return { uuid: pod.uuid, alreadyStopped: true };
  if (pod.state !== 'running') throw new PodError('POD_STATE', `pod ${pod.uuid} is ${pod.state}, not running`, { subject: pod.uuid });
  // Stamped when asked, published once done: the pod's own pod/exited (from the process that runs it) may
  // reach a subscriber first, but never carries an earlier time.
  const force = o.force === true;
  const stopped = podEvent('pod/stopped', pod.uuid, { force });
  // A stop without force signals the supervisor when there is one (stopPodProcesses); --force needs the pid. A
  // pod that stopped running while this waited is what stop asks for.
  if ((await waitForPodPids(pod, (p) => p.pid !== undefined || (!force && p.supervisor !== undefined))) === undefined) {
    o.bus?.publish(stopped);
    return { uuid: pod.uuid, alreadyStopped: false };
  }
  relinkMovedStage1(o.dataDir, pod.path);
  const { executable: entry, module } = stage1StopEntrypoints(pod.path);
  const args = [...(o.force ? ['--force'] : []), pod.uuid];
  const loaded = module === undefined ? undefined : 'unusable' in module ? module : loadStopModule(module.path);
  if (loaded !== undefined && 'module' in loaded) {
    try {
      await loaded.module.stop(args, { podDir: pod.path });
    } catch (err) {
      throw new PodError('POD_STAGE1', `the stage1 stop of pod ${pod.uuid} failed: ${(err as Error).message}`, { subject: pod.uuid, cause: err });
    }
  } else if (entry !== undefined) {
    if (loaded !== undefined) o.log?.(`pod ${pod.uuid}: not using the stage1 stop module: ${loaded.unusable}; executing ${entry}`);
    const status = await runEntrypoint(entry, args, pod.path);
    if (status !== 0) throw new PodError('POD_STAGE1', `the stage1 stop entrypoint of pod ${pod.uuid} exited with ${status}`, { subject: pod.uuid });
  } else {
    const { pid } = await podDetails(pod);
    if (pid === undefined) throw new PodError('POD_STATE', `pod ${pod.uuid} has no pid yet`, { subject: pod.uuid });
    try {
      process.kill(pid, o.force ? 'SIGKILL' : 'SIGTERM');
    } catch (err) {
      // ESRCH: the pod is gone already, which is what stop asks for.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  o.bus?.publish(stopped);
  return { uuid: pod.uuid, alreadyStopped: false };
}
