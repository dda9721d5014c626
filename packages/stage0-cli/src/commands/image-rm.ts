import type { CommandContext } from '../command.js';
import { openImageStore } from './image-common.js';

/**
 * `rkt image rm IMAGE...`: removes each image (ID, unique ID prefix or name) with every tree rendered
 * from it. As rkt, it goes on after a failure, reports each on stderr and fails at the end.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const store = await openImageStore(ctx);
  let removed = 0;
  let failed = 0;
  const done = new Set<string>();
  for (const ref of args) {
    try {
      if (done.has((await store.resolve(ref)).id)) continue; // named twice: removed once
      // By the reference itself: it is resolved again under the store's lock, atomically with the removal.
      const img = await store.remove(ref);
      done.add(img.id);
      removed++;
      ctx.stdout.write(`successfully removed aci for image: ${JSON.stringify(img.id)}\n`);
    } catch (err) {
      if (typeof (err as { code?: unknown }).code !== 'string') throw err;
      failed++;
      ctx.stderr.write(`image rm: ${(err as Error).message}\n`);
    }
  }
  // The totals help when many were named; with one, its own line says everything.
  if (args.length > 1) {
    if (removed > 0) ctx.stderr.write(`image rm: ${removed} image(s) successfully removed\n`);
    if (failed > 0) ctx.stderr.write(`image rm: ${failed} image(s) cannot be removed\n`);
  }
  return failed > 0 ? 254 : 0;
}
