import { spawn } from 'node:child_process';
import { chooseApp } from './choose-app.js';
import { PodError } from './errors.js';
import { relinkMovedStage1 } from './data-dir-paths.js';
import { waitForPodPids } from './pod-pid-wait.js';
import { findPod, podDetails } from './pods.js';
import { stage1Entrypoint, STAGE1_ANNOTATIONS } from './stage1.js';
import { attachModeArgs } from './stage1-abi/app-streams.js';
import { waitForeground } from './stage1-abi/foreground.js';

export interface AttachOptions {
  readonly dataDir: string;
  /** A UUID or a unique prefix of one. */
  readonly uuid: string;
  /** Required when the pod has several apps. */
  readonly app?: string;
  /** rkt's `--mode`: `auto` (the default), `list`, or endpoints (`stdin,stdout,stderr`, `tty`, `tty-in`, `tty-out`). */
  readonly mode?: string;
  readonly debug?: boolean;
}

/**
 * `rkt attach` (RKT_EXPERIMENT_ATTACH): runs the pod's stage1 attach entrypoint
 * (`coreos.com/rkt/stage1/attach --action=... --app=NAME [--tty-in= --tty-out= --stdin= --stdout= --stderr=]
 * --debug=BOOL`, rkt's arguments, in the pod directory) with this process's stdin, stdout and stderr. The mode
 * is checked, the pod found running, the app chosen and the entrypoint found before it starts: each refusal is
 * one line. Resolves to the entrypoint's exit status (254 from its own one-line failures).
 */
export async function attachPod(o: AttachOptions): Promise<number> {
  let modeArgs: string[];
  try {
    modeArgs = attachModeArgs(o.mode ?? 'auto');
  } catch (err) {
    throw new PodError('POD_APP', (err as Error).message, { subject: o.uuid, cause: err });
  }
  const found = findPod(o.dataDir, o.uuid);
  if (found.state !== 'running') throw new PodError('POD_STATE', `pod ${found.uuid} isn't currently running (it is ${found.state})`, { subject: found.uuid });
  const pod = await podDetails(found);
  const app = chooseApp(pod.uuid, pod.apps.map((a) => a.name), o.app, 'attach');
  relinkMovedStage1(o.dataDir, pod.path);
  const entry = stage1Entrypoint(pod.path, 'attach');
  if (entry === undefined) {
    throw new PodError('POD_STAGE1', `the stage1 of pod ${pod.uuid} has no attach entrypoint (${STAGE1_ANNOTATIONS.attach}): use the systemd stage1`, { subject: pod.uuid });
  }
  // A pod still starting has no pid yet, nor its apps' endpoints: waited for while it runs, as enter does.
  if (pod.pid === undefined && (await waitForPodPids(found, (p) => p.pid !== undefined))?.pid === undefined) {
    throw new PodError('POD_STATE', `pod ${pod.uuid} isn't currently running (it stopped while starting)`, { subject: pod.uuid });
  }
  const child = spawn(entry, [...modeArgs, `--app=${app}`, `--debug=${o.debug === true}`], { cwd: pod.path, stdio: 'inherit' });
  try {
    return await waitForeground(child, `the stage1 attach entrypoint ${entry}`);
  } catch (err) {
    throw new PodError('POD_STAGE1', (err as Error).message, { subject: pod.uuid, cause: err });
  }
}
