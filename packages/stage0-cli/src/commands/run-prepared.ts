import { findPod, PodError, runPod } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { runOptionsFromFlags } from './pods/run-options.js';
import { checkMds, registerWithMds } from './pods/mds.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const options = runOptionsFromFlags(ctx);
  const mdsSocket = ctx.flags.bool('mds-register') ? ctx.flags.string('mds-socket') : undefined;
  if (mdsSocket !== undefined) await checkMds(mdsSocket);
  const pod = findPod(ctx.dataDir(), args[0] ?? '');
  if (pod.state !== 'prepared') throw new PodError('POD_STATE', `pod ${pod.uuid} is ${pod.state}, not prepared`, { subject: pod.uuid });
  // Registered before runPod locks the pod: two run-prepared at once may both register, and the service keeps
  // every token of a pod valid, so whichever URL the winner's apps read works.
  if (mdsSocket !== undefined) await registerWithMds(pod.path, pod.uuid, mdsSocket);
  return runPod({ ...options, dataDir: ctx.dataDir(), uuid: pod.uuid });
}
