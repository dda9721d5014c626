import { warmThreadPool } from '@rkt/rootfs-overlay/sys';
import type { CommandContext } from '../command.js';
import { leanBundleMiss } from '../lean-bundle.js';
import { cliEventsConfig } from './pods/common.js';
import { run as runFull } from './run.js';

/**
 * `rkt run` in its lean bundle (lean-bundle.ts). What would call a module left out and go on without it is
 * refused here, before anything is done: the metadata service's registration and a NATS server for events
 * (its load failing is a warning, not a failure, in the full bundle). What fails where it is called (a fetch,
 * an import, a render, a --pod-manifest's full validation) is handed over by its stub.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (ctx.flags.bool('mds-register')) leanBundleMiss('the metadata service (--mds-register)');
  if (cliEventsConfig(ctx)?.nats !== undefined) leanBundleMiss('the NATS event bus (events.d)');
  // The pod's files are fsynced through libuv's pool: started now on the other core, it is there by the first.
  warmThreadPool();
  return runFull(ctx, args);
}
