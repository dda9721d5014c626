import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { resolveInRoot } from '@rkt/rootfs-overlay';
import { chooseApp } from './choose-app.js';
import { PodError } from './errors.js';
import { relinkMovedStage1 } from './data-dir-paths.js';
import { POD_FILES } from './layout.js';
import { waitForPodPids } from './pod-pid-wait.js';
import { findPod, podDetails } from './pods.js';
import { stage1Entrypoint } from './stage1.js';
import { waitForeground } from './stage1-abi/foreground.js';

export interface EnterOptions {
  readonly dataDir: string;
  /** A UUID or a unique prefix of one. */
  readonly uuid: string;
  /** Required when the pod has several apps. */
  readonly app?: string;
  /** Empty: the app's /bin/bash, else its /bin/sh. */
  readonly cmd: readonly string[];
  /** Told the command chosen when none was given (rkt said "No command specified, assuming ..."). */
  readonly onDefaultCommand?: (cmd: string) => void;
}

/**
 * `rkt enter`: runs a command inside an app of a running pod through its stage1's enter entrypoint
 * (`--pid=PID --appname=NAME -- CMD...`, in the pod directory, PID being the pod's first process), with
 * this process's stdin, stdout and stderr. Resolves to the command's exit status.
 */
export async function enterPod(o: EnterOptions): Promise<number> {
  const found = findPod(o.dataDir, o.uuid);
  if (found.state !== 'running') throw new PodError('POD_STATE', `pod ${found.uuid} isn't currently running (it is ${found.state})`, { subject: found.uuid });
  const pod = await podDetails(found);
  const app = chooseApp(pod.uuid, pod.apps.map((a) => a.name), o.app, 'enter');
  // A pod still starting has no pid yet: waited for while it runs, as rkt's enter did (ContainerPid1).
  const pid = pod.pid ?? (await waitForPodPids(found, (p) => p.pid !== undefined))?.pid;
  if (pid === undefined) throw new PodError('POD_STATE', `pod ${pod.uuid} isn't currently running (it stopped while starting)`, { subject: pod.uuid });
  relinkMovedStage1(o.dataDir, pod.path);
  const entry = stage1Entrypoint(pod.path, 'enter');
  if (entry === undefined) throw new PodError('POD_STAGE1', `the stage1 of pod ${pod.uuid} has no enter entrypoint`, { subject: pod.uuid });
  let cmd = o.cmd;
  if (cmd.length === 0) {
    // Looked up as the app sees its root: an absolute link such as /bin/bash -> /usr/bin/bash is the app's.
    const bash = await resolveInRoot(join(pod.path, POD_FILES.appRootfs(app)), '/bin/bash').then(() => true, () => false);
    cmd = [bash ? '/bin/bash' : '/bin/sh'];
    o.onDefaultCommand?.(cmd[0] as string);
  }
  const child = spawn(entry, [`--pid=${pid}`, `--appname=${app}`, '--', ...cmd], { cwd: pod.path, stdio: 'inherit' });
  try {
    return await waitForeground(child, `the stage1 enter entrypoint ${entry}`);
  } catch (err) {
    throw new PodError('POD_STAGE1', (err as Error).message, { subject: pod.uuid, cause: err });
  }
}
