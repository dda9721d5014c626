import { findPod, PodError, runPod } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { hostnameFlag } from './pods/hostname.js';
import { cliBus } from './pods/common.js';
import { checkMds, registerWithMds } from './pods/mds.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const mdsSocket = ctx.flags.bool('mds-register') ? ctx.flags.string('mds-socket') : undefined;
  if (mdsSocket !== undefined) await checkMds(mdsSocket);
  // Checked before anything is prepared or run: a bad value leaves nothing behind.
  const hostname = hostnameFlag(ctx);
  const pod = findPod(ctx.dataDir(), args[0] ?? '');
  if (pod.state !== 'prepared') throw new PodError('POD_STATE', `pod ${pod.uuid} is ${pod.state}, not prepared`, { subject: pod.uuid });
  // Registered before runPod locks the pod: two run-prepared at once may both register, and the service keeps
  // every token of a pod valid, so whichever URL the winner's apps read works.
  if (mdsSocket !== undefined) await registerWithMds(pod.path, pod.uuid, mdsSocket);
  return runPod({
    dataDir: ctx.dataDir(),
    uuid: pod.uuid,
    interactive: ctx.flags.bool('interactive'),
    ...(hostname !== undefined ? { hostname } : {}),
    debug: ctx.globals.debug,
    localConfigDir: ctx.globals.localConfigDir,
    insecure: {
      capabilities: ctx.globals.insecureOptions.skipCapabilities,
      paths: ctx.globals.insecureOptions.skipPaths,
      seccomp: ctx.globals.insecureOptions.skipSeccomp,
    },
    bus: cliBus(ctx),
    log: (m) => ctx.log.debug(m),
    forwardSignals: true,
  });
}
