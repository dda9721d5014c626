import { readPodPids } from './pod-pids.js';

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    // ESRCH: the pod is gone already, which is what stop asks for.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * The stop entrypoint's work, in the pod directory: without force, SIGTERM to the pod's supervisor
 * when the stage1 has one (systemd-nspawn turns it into a clean poweroff of the pod's systemd; PID 1
 * systemd itself would take SIGTERM as "re-execute"), else to the pod's first process (fly's app).
 * With force, SIGKILL to the pod's first process: for a pod with its own pid namespace, the whole pod.
 */
export function stopPodProcesses(podDir: string, force: boolean): void {
  const { pid, supervisor } = readPodPids(podDir);
  if (force) {
    if (pid !== undefined) signal(pid, 'SIGKILL');
    return;
  }
  const target = supervisor ?? pid;
  if (target === undefined) throw new Error('the pod has written neither pid nor ppid');
  signal(target, 'SIGTERM');
}
