import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { withIndex } from './index-db.js';
import type { Layout } from './layout.js';
import { ownerAlive, uniqueName } from './owner.js';

/**
 * A fetch imports an image and renders it in two transactions; an `image rm` or `gc` between them would
 * make the render fail ("removed while being rendered") although each step was correct. A hold closes that
 * window: `tmp/hold-<owner>` lists images this process is working with, written under the index lock
 * (atomically with an import, or after checking the images still exist), and `remove` and `gc` leave held
 * images alone. It is named after its process (pid + start time), so a killed fetch holds nothing: its
 * file is debris that gc removes, and no one waits for it.
 */
export class ImageHold {
  readonly name = uniqueName('hold');
  private readonly ids = new Set<string>();
  private released = false;

  constructor(private readonly ctx: StoreContext) {}

  /** The images held so far. */
  get images(): readonly string[] {
    return [...this.ids];
  }

  /** Adds images; call under the index lock, after making sure they are stored. */
  async addLocked(ids: readonly string[]): Promise<void> {
    this.checkLive();
    for (const id of ids) this.ids.add(id);
    // Readers (remove, gc) read it under the same lock, so a plain write is never seen half done.
    await writeFile(join(this.ctx.layout.tmp, this.name), `${JSON.stringify(this.images)}\n`, { mode: 0o644 });
  }

  /** Holds images that are in the store now; STORE_NOT_FOUND (and nothing held) if one of them is not. */
  async add(ids: readonly string[]): Promise<void> {
    this.checkLive();
    await withIndex(this.ctx.layout, this.ctx.options, async (tx) => {
      for (const id of ids) {
        if ((await tx.image(id)) === undefined) throw new StoreError('STORE_NOT_FOUND', `no image with ID ${id} in the store`, { subject: id });
      }
      await this.addLocked(ids);
    });
  }

  private checkLive(): void {
    if (this.released) throw new StoreError('STORE_BAD_REFERENCE', `hold ${this.name} was already released`, { subject: this.name });
  }

  /** Lets `remove` and `gc` have the images again. Idempotent. */
  async release(): Promise<void> {
    this.released = true;
    await rm(join(this.ctx.layout.tmp, this.name), { force: true });
  }
}

/** Image ID -> pid of a live process holding it. Call under the index lock. */
export async function heldImages(l: Layout): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of await readdir(l.tmp)) {
    if (!name.startsWith('hold-') || !ownerAlive(name)) continue;
    let ids: unknown;
    try {
      ids = JSON.parse(await readFile(join(l.tmp, name), 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (!Array.isArray(ids)) continue;
    const pid = Number(/^hold-(\d+)\./.exec(name)?.[1]);
    for (const id of ids) if (typeof id === 'string') out.set(id, pid);
  }
  return out;
}
