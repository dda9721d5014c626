import { removePod } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { cliBus, openCliStore } from './pods/common.js';
import { unregisterFromMds } from './pods/mds.js';
import { podArgs } from './pods/uuid-file.js';

/**
 * Removes each pod given; a failure is reported and the others are still removed (exit 254 then). Each pod
 * removed is one line on stdout, its UUID quoted as rkt 1.30's `%q` printed it.
 */
export async function run(ctx: CommandContext, given: readonly string[]): Promise<number> {
  const args = podArgs(ctx, given);
  const store = await openCliStore(ctx);
  let failed = false;
  for (const arg of args) {
    try {
      const uuid = await removePod({ dataDir: ctx.dataDir(), store, bus: cliBus(ctx), debug: ctx.globals.debug, log: (m) => ctx.log.debug(m), beforeDelete: unregisterFromMds }, arg);
      ctx.stdout.write(`${JSON.stringify(uuid)}\n`);
    } catch (err) {
      failed = true;
      ctx.log.warn(`error removing pod ${JSON.stringify(arg)}: ${(err as Error).message}`);
    }
  }
  return failed ? 254 : 0;
}
