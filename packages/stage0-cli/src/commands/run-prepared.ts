import { findPod, PodError, runPod } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { cliBus } from './pods/common.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const pod = findPod(ctx.dataDir(), args[0] ?? '');
  if (pod.state !== 'prepared') throw new PodError('POD_STATE', `pod ${pod.uuid} is ${pod.state}, not prepared`, { subject: pod.uuid });
  return runPod({
    dataDir: ctx.dataDir(),
    uuid: pod.uuid,
    interactive: ctx.flags.bool('interactive'),
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
