import type { CommandContext } from '../command.js';
import { shortImageId } from '../output/listing.js';
import { displayName, openImageStore } from './image-common.js';

/**
 * `rkt image verify IMAGE...` (rkt-ts): checks that each stored ACI still hashes to its ID and that every
 * tree rendered from it is intact, rendering damaged trees again. One line per image and per tree; fails
 * (254) if anything is damaged and could not be repaired.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const store = await openImageStore(ctx);
  let bad = 0;
  for (const ref of args) {
    try {
      const img = await store.resolve(ref);
      const v = await store.verifyImage(img.id, { repair: !ctx.flags.bool('no-repair') });
      const name = `${shortImageId(img.id)} (${displayName(img)})`;
      if (!v.ok) bad++;
      // Importing the image again replaces a damaged blob (the store's importAci): the fix is one fetch away.
      ctx.stdout.write(`${name}: ${v.ok ? 'ok' : 'corrupt: the stored ACI no longer hashes to its ID (fetch the image again to replace it)'}\n`);
      for (const t of v.trees) {
        if (!t.ok && !t.repaired) bad++;
        const state = t.ok ? 'ok' : t.repaired ? 'damaged, rendered again' : `damaged: ${t.problem ?? 'not repaired'}`;
        ctx.stdout.write(`${name}: tree ${t.treeId.slice(0, 'deps-sha512-'.length + 12)}: ${state}\n`);
      }
    } catch (err) {
      if (typeof (err as { code?: unknown }).code !== 'string') throw err;
      bad++;
      ctx.stderr.write(`image verify: ${(err as Error).message}\n`);
    }
  }
  return bad > 0 ? 254 : 0;
}
