import { formatNets, netInfoJson, readNetInfo } from '@rkt/cni/netinfo';
import { findPod, podDetails, PodError, waitUnlocked, type PodDetails, type PodState } from '@rkt/controller';
import { formatDuration } from '../argv/duration.js';
import type { CommandContext } from '../command.js';
import { goTime } from './pods/times.js';
import { waitTimeoutMs } from './wait-flag.js';

const FINISHED: readonly PodState[] = ['exited', 'exited garbage', 'garbage', 'deleting'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Wait {
  /** What the pod is waited for, as the messages say it: `to finish`, `to be ready`. */
  readonly goal: string;
  /** The timeout's message, after the pod and its state: `did not finish`. */
  readonly missed: string;
  readonly done: (p: PodDetails) => boolean;
  /** Whether a running pod is done only once its lock is let go (its end), so that the wait may block on it. */
  readonly untilUnlocked?: boolean;
}

/**
 * Looks at the pod (it may move between state directories meanwhile) until `done` says so, or fails once
 * `timeoutMs` has passed, as rkt's wait under a context with that deadline. A pod that an rm or a gc removes
 * between two looks fails the wait in one line saying so: "no pod matches" would read as a mistyped UUID, and
 * rkt 1.30 printed a pod it no longer had as running, then failed to find its pid.
 *
 * While the pod runs and the wait is for its end (`untilUnlocked`), the next look comes once its lock is let go
 * (`waitUnlocked`: the pod has exited, or a remover has had it), as rkt waited by taking the lock: within a few
 * ms of the pod's exit, and no look meanwhile. A pod in any other state (prepared, preparing: not locked by a
 * run yet), a wait for it to be ready, or a machine that cannot wait on a lock, is looked at every 50 ms.
 */
async function waitFor(ctx: CommandContext, uuid: string, timeoutMs: number, wait: Wait): Promise<PodDetails> {
  const end = Date.now() + timeoutMs;
  ctx.log.debug(`waiting for pod ${uuid} ${wait.goal}`);
  let onLock = wait.untilUnlocked === true;
  for (;;) {
    let pod: PodDetails;
    try {
      pod = await podDetails(findPod(ctx.dataDir(), uuid));
    } catch (err) {
      if (err instanceof PodError && err.code === 'POD_NOT_FOUND') {
        throw new PodError('POD_NOT_FOUND', `pod ${uuid} was removed while waiting for it ${wait.goal}`, { subject: uuid, cause: err });
      }
      throw err;
    }
    if (wait.done(pod)) return pod;
    if (Date.now() >= end) throw new PodError('POD_STATE', `pod ${uuid} (${pod.state}) ${wait.missed} within ${formatDuration(timeoutMs)}`, { subject: uuid });
    if (onLock && pod.state === 'running') {
      // 'gone' (moved or removed since the look) and 'timeout' are the next look's to say.
      const r = await waitUnlocked(pod.path, end - Date.now());
      if (r !== undefined) continue;
      onLock = false;
    }
    await sleep(Math.min(50, Math.max(1, end - Date.now())));
  }
}

export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const found = findPod(ctx.dataDir(), args[0] ?? '');
  let pod = await podDetails(found);
  const ready = waitTimeoutMs(ctx.flags.string('wait-ready'));
  const finished = waitTimeoutMs(ctx.flags.string('wait'));
  // Ready as rkt's: running with its process known (rkt waited for the stage1's supervisor), not merely
  // locked by a run that has not started the pod's PID 1 yet (which printed pid=-1). Then finished, as rkt
  // waited for both when given both.
  if (ready > 0) {
    pod = await waitFor(ctx, found.uuid, ready, { goal: 'to be ready', missed: 'was not ready', done: (p) => (p.state === 'running' && p.pid !== undefined) || FINISHED.includes(p.state) });
  }
  if (finished > 0) pod = await waitFor(ctx, found.uuid, finished, { goal: 'to finish', missed: 'did not finish', done: (p) => FINISHED.includes(p.state), untilUnlocked: true });
  const format = ctx.flags.string('format');
  const hasPid = pod.state === 'running' || FINISHED.includes(pod.state);
  const exited = FINISHED.includes(pod.state);
  const apps = pod.apps.map((a) => ({ name: a.name, exitCode: pod.appExitStatuses.get(a.name) }));
  // The pod's CNI networks as its stage1 saved them (none for --net=host or none).
  const nets = pod.state === 'running' || exited ? readNetInfo(pod.path) : [];
  if (format === 'json' || format === 'json-pretty') {
    const doc = {
      name: pod.uuid,
      state: pod.state,
      networks: netInfoJson(nets),
      app_names: apps.map((a) => a.name),
      ...(hasPid && pod.pid !== undefined ? { pid: pod.pid } : {}),
      ...(pod.createdAt ? { created_at: Math.floor(pod.createdAt.getTime() / 1000) } : {}),
      ...(pod.startedAt ? { started_at: Math.floor(pod.startedAt.getTime() / 1000) } : {}),
      ...(hasPid ? { exited } : {}),
      apps: apps.map((a) => ({ name: a.name, ...(hasPid && a.exitCode !== undefined ? { exit_code: a.exitCode } : {}) })),
    };
    ctx.stdout.write(`${format === 'json' ? JSON.stringify(doc) : JSON.stringify(doc, null, '\t')}\n`);
    return;
  }
  const lines = [`state=${pod.state}`];
  if (pod.createdAt) lines.push(`created=${goTime(pod.createdAt)}`);
  if (pod.startedAt) lines.push(`started=${goTime(pod.startedAt)}`);
  if (pod.state === 'running' || exited) lines.push(`networks=${formatNets(nets)}`);
  if (hasPid) {
    lines.push(`pid=${pod.pid ?? -1}`);
    lines.push(`exited=${exited}`);
  }
  // A running pod's apps that have ended too, as rkt showed them (the stage1 records each as it ends).
  if (hasPid) for (const a of apps) if (a.exitCode !== undefined) lines.push(`app-${a.name}=${a.exitCode}`);
  ctx.stdout.write(`${lines.join('\n')}\n`);
}
