import { runPod } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { cliBus, prepareFromCli } from './pods/common.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const pod = await prepareFromCli(ctx, args, true);
  ctx.log.debug(`pod ${pod.uuid} prepared at ${pod.path}`);
  return runPod({
    dataDir: ctx.dataDir(),
    uuid: pod.uuid,
    ...(pod.lockFd !== undefined ? { lockFd: pod.lockFd } : {}),
    interactive: ctx.flags.bool('interactive'),
    debug: ctx.globals.debug,
    localConfigDir: ctx.globals.localConfigDir,
    bus: cliBus(ctx),
    log: (m) => ctx.log.debug(m),
    forwardSignals: true,
  });
}
