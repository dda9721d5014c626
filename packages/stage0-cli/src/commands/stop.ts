import { stopPod } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { cliBus } from './pods/common.js';
import { podArgs } from './pods/uuid-file.js';

/**
 * Stops each pod given; a failure is reported and the others are still stopped (exit 254 then). Each pod
 * stopped is one line on stdout, its UUID quoted as rkt 1.30's `%q` printed it (scripts that read rkt's output
 * expect the quotes). A pod that has run and ended is not a failure: rkt 1.30 said so on stdout.
 */
export async function run(ctx: CommandContext, given: readonly string[]): Promise<number> {
  const args = podArgs(ctx, given);
  let failed = false;
  for (const arg of args) {
    try {
      const { uuid, alreadyStopped } = await stopPod({ dataDir: ctx.dataDir(), uuid: arg, force: ctx.flags.bool('force'), bus: cliBus(ctx), log: (m) => ctx.log.debug(m) });
      ctx.stdout.write(alreadyStopped ? `pod ${JSON.stringify(uuid)} is already stopped\n` : `${JSON.stringify(uuid)}\n`);
    } catch (err) {
      failed = true;
      ctx.log.warn(`error stopping ${JSON.stringify(arg)}: ${(err as Error).message}`);
    }
  }
  return failed ? 254 : 0;
}
