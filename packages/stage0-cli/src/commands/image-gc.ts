import type { CommandContext } from '../command.js';
import { parseDurationFlag } from '../argv/duration.js';
import { openImageStore } from './image-common.js';

/**
 * `rkt image gc`: removes trees no live pod references, then images not used within the grace period and
 * not used by a live pod, then what killed processes left behind. Reports as rkt did: trees on stderr,
 * images on stdout.
 */
export async function run(ctx: CommandContext): Promise<void> {
  const gracePeriodMs = parseDurationFlag('grace-period', ctx.flags.string('grace-period'));
  const store = await openImageStore(ctx);
  const r = await store.gc({ gracePeriodMs });
  for (const t of r.removedTrees) ctx.stderr.write(`removed treestore ${JSON.stringify(t)}\n`);
  for (const id of r.removedImages) ctx.stdout.write(`successfully removed aci for image: ${JSON.stringify(id)}\n`);
  if (r.removedImages.length > 0) ctx.stderr.write(`image gc: ${r.removedImages.length} image(s) successfully removed\n`);
  if (r.removedDebris > 0) ctx.log.debug(`removed ${r.removedDebris} leftover(s) of killed processes`);
}
