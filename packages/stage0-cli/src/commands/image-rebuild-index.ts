import type { CommandContext } from '../command.js';
import { openImageStore } from './image-common.js';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * `rkt image rebuild-index` (rkt-ts): replaces a damaged image index with one made from the images on disk
 * and what LevelDB's repair reads back of the old one (`Store.rebuildIndex`). The command a damaged index's
 * error names.
 */
export async function run(ctx: CommandContext): Promise<void> {
  const store = await openImageStore(ctx);
  const r = await store.rebuildIndex();
  ctx.stdout.write(`rebuilt the image index: ${count(r.images, 'image', 'images')}, ${count(r.trees, 'tree', 'trees')}, ` +
    `${count(r.remotes, 'remote record', 'remote records')} (${count(r.salvaged, 'record', 'records')} kept from the old index)\n`);
}
