import { sweepCallCgroups } from '@rkt/cni/call-cgroups';
import { gcPods } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { parseDurationFlag } from '../argv/duration.js';
import { cliBus, openCliStore } from './pods/common.js';
import { unregisterFromMds } from './pods/mds.js';

function durationFlag(ctx: CommandContext, name: string): number {
  return parseDurationFlag(name, ctx.flags.string(name));
}

export async function run(ctx: CommandContext): Promise<number> {
  const gracePeriodMs = durationFlag(ctx, 'grace-period');
  const expirePreparedMs = durationFlag(ctx, 'expire-prepared');
  const store = await openCliStore(ctx);
  // What CNI plugin calls of killed runs left (a daemon a plugin started may hold its pod's lock, and a locked
  // pod is not collected): killed before the pods' locks are looked at.
  const swept = sweepCallCgroups();
  for (const c of swept.swept) ctx.log.debug(`removed the cgroup of an ended CNI plugin call, ${c}`);
  for (const c of swept.left) ctx.log.warn(`cannot remove ${c}: processes left in it do not die`);
  const r = await gcPods({
    dataDir: ctx.dataDir(),
    store,
    gracePeriodMs,
    expirePreparedMs,
    markOnly: ctx.flags.bool('mark-only'),
    bus: cliBus(ctx),
    debug: ctx.globals.debug,
    log: (m) => ctx.log.debug(m),
    beforeDelete: unregisterFromMds,
  });
  for (const uuid of r.marked) ctx.stdout.write(`Moving pod "${uuid}" to garbage\n`);
  for (const uuid of r.removed) ctx.stdout.write(`Garbage collecting pod "${uuid}"\n`);
  for (const f of r.failed) ctx.log.warn(`pod ${f.uuid}: ${f.error}`);
  return r.failed.length > 0 ? 254 : 0;
}
