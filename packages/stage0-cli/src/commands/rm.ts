import { removePod, type PodState } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { cliBus, openCliStore } from './pods/common.js';
import { unregisterFromMds } from './pods/mds.js';
import { podArgs } from './pods/uuid-file.js';

/**
 * Removes each pod given; a failure is reported and the others are still removed (exit 254 then). Each pod
 * removed is one line on stdout, its UUID quoted as rkt 1.30's `%q` printed it; a prepared pod or a failed
 * prepare is said, on stderr, to be moved to garbage as it is moved, as rkt said it.
 */
export async function run(ctx: CommandContext, given: readonly string[]): Promise<number> {
  const args = podArgs(ctx, given);
  const store = await openCliStore(ctx);
  let failed = false;
  // rkt 1.30's words, on stderr, for a pod it had to move to garbage first (an exited one went silently), said as
  // rkt said them, just before the move. Only the rm that holds the pod's lock is told, and it keeps the lock until
  // the pod is deleted: one that loses a race to another rm or gc says only why, in one line.
  const moving = (state: PodState, uuid: string): void => {
    if (state === 'prepared') ctx.log.warn(`moving expired prepared pod ${JSON.stringify(uuid)} to garbage`);
    if (state === 'aborted prepare') ctx.log.warn(`moving failed prepare ${JSON.stringify(uuid)} to garbage`);
  };
  for (const arg of args) {
    try {
      const uuid = await removePod({ dataDir: ctx.dataDir(), store, bus: cliBus(ctx), debug: ctx.globals.debug, log: (m) => ctx.log.debug(m), beforeDelete: unregisterFromMds, moving }, arg);
      ctx.stdout.write(`${JSON.stringify(uuid)}\n`);
    } catch (err) {
      failed = true;
      ctx.log.warn(`error removing pod ${JSON.stringify(arg)}: ${(err as Error).message}`);
    }
  }
  return failed ? 254 : 0;
}
