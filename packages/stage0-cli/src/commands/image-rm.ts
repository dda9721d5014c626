import type { ImageRecord } from '@rkt/image-store';
import type { CommandContext } from '../command.js';
import { openImageStore } from './image-common.js';

/**
 * `rkt image rm IMAGE...`: removes each image (ID, unique ID prefix, or name with optional `:version` and
 * labels: every image of that name that matches, as rkt did) with every tree rendered from it. Images are
 * counted once however many arguments name them. As rkt, it goes on after a failure, reports each on
 * stderr and fails at the end.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const store = await openImageStore(ctx);
  let removed = 0;
  let failed = 0;
  const fail = (err: unknown) => {
    if (typeof (err as { code?: unknown }).code !== 'string') throw err;
    failed++;
    ctx.stderr.write(`image rm: ${(err as Error).message}\n`);
  };
  // All resolved before any is removed: an image that a later argument names again is then still there to
  // be recognised as the same one.
  const targets = new Map<string, ImageRecord>();
  for (const ref of args) {
    try {
      for (const img of await store.resolveAll(ref)) targets.set(img.id, img);
    } catch (err) {
      fail(err);
    }
  }
  for (const img of targets.values()) {
    try {
      // By full ID: each is removed under the store's lock, refused there if a pod or a fetch uses it.
      await store.remove(img.id);
      removed++;
      ctx.stdout.write(`successfully removed aci for image: ${JSON.stringify(img.id)}\n`);
    } catch (err) {
      fail(err);
    }
  }
  // The totals help when several images were involved; with one, its own line says everything.
  if (removed + failed > 1) {
    if (removed > 0) ctx.stderr.write(`image rm: ${removed} image(s) successfully removed\n`);
    if (failed > 0) ctx.stderr.write(`image rm: ${failed} image(s) cannot be removed\n`);
  }
  return failed > 0 ? 254 : 0;
}
