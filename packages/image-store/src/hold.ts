import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreContext } from './context.js';
import { StoreError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { withIndex } from './index-db.js';
import type { Layout } from './layout.js';
import { ownerAlive, uniqueName } from './owner.js';
import type { RemoteRecord } from './records.js';

/**
 * What a hold is for, said by `remove` when it refuses a held image: `fetch` (the default: between a fetch's
 * import and its render) or `pod` (`rkt run`/`prepare`, from resolving an image until the pod references it).
 */
export type HoldPurpose = 'fetch' | 'pod';

/**
 * What one import made with a hold changed, so that `rollback` can put it back: the image itself when the
 * import added it, its `latest` flag, the flags it took from other images of its name, and the remote record
 * it replaced.
 */
export interface HeldImport {
  readonly id: string;
  /** The image was not stored before this import. */
  readonly added: boolean;
  /** An image already stored: its `latest` flag before the import. */
  readonly wasLatest: boolean;
  /** Images of the same name whose `latest` flag the import cleared. */
  readonly unlatest: readonly string[];
  /** With a remote record: its URL, and the record there before the import (undefined: none). */
  readonly remote?: { readonly url: string; readonly previous: RemoteRecord | undefined };
}

/** What `rollback` did. */
export interface HoldRollback {
  /** Images removed (each with every tree rendered from it). */
  readonly removed: readonly string[];
  /** Images the hold's imports added but someone else uses now (a pod, another process's hold): kept, with why. */
  readonly kept: readonly { readonly id: string; readonly reason: string }[];
}

/**
 * A fetch imports an image and renders it in two transactions; an `image rm` or `gc` between them would
 * make the render fail ("removed while being rendered") although each step was correct. A hold closes that
 * window: `tmp/hold-<owner>` lists images this process is working with, written under the index lock
 * (atomically with an import, or after checking the images still exist), and `remove` and `gc` leave held
 * images alone. It is named after its process (pid + start time), so a killed fetch holds nothing: its
 * file is debris that gc removes, and no one waits for it.
 *
 * A hold also remembers what its imports changed (`imports`), so that a command that fails after importing
 * (a dependency that cannot be fetched) can leave the store as it found it (`rollback`).
 */
export class ImageHold {
  private ownName: string | undefined;
  private readonly ids = new Set<string>();
  private readonly imported: HeldImport[] = [];
  private released = false;
  private written = false;

  constructor(private readonly ctx: StoreContext, readonly purpose: HoldPurpose = 'fetch') {}

  /**
   * The hold file's name in `tmp/`. Made on first use: `rkt run` makes a hold that it never writes when its
   * images are found without the index, and naming it reads /proc.
   */
  get name(): string {
    this.ownName ??= uniqueName('hold');
    return this.ownName;
  }

  /** The images held so far. */
  get images(): readonly string[] {
    return [...this.ids];
  }

  /** The imports made with this hold, in order (see `rollback`). */
  get imports(): readonly HeldImport[] {
    return [...this.imported];
  }

  /** Adds images; call under the index lock, after making sure they are stored. */
  async addLocked(ids: readonly string[], imported?: HeldImport): Promise<void> {
    this.checkLive();
    for (const id of ids) this.ids.add(id);
    if (imported !== undefined) this.imported.push(imported);
    await this.write();
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

  /**
   * Holds an image if it is still stored: false when it is not (removed since it was looked up), for callers
   * that then treat it as missing (a fetch fetches it, run/prepare import it again).
   */
  async addIfStored(id: string): Promise<boolean> {
    try {
      await this.add([id]);
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'STORE_NOT_FOUND') return false;
      throw err;
    }
  }

  /**
   * Undoes the imports made with this hold (or those of `imports`, e.g. one fetch's among a command's):
   * removes each image an import added, with its trees, unless a live pod or another process's hold uses it
   * now (then it is kept, and `kept` says why); gives back the `latest` flags and remote records the imports
   * took, where nothing changed them since. An image that was stored before its import is never removed.
   * The removed images are no longer held; the hold stays usable.
   */
  async rollback(imports: readonly HeldImport[] = this.imported): Promise<HoldRollback> {
    this.checkLive();
    const undo = imports.filter((i) => this.imported.includes(i));
    if (undo.length === 0) return { removed: [], kept: [] };
    const { rollbackImports } = await import('./rollback.js');
    const result = await rollbackImports(this.ctx, this.name, undo);
    for (const i of undo) this.imported.splice(this.imported.indexOf(i), 1);
    if (result.removed.length > 0) {
      for (const id of result.removed) this.ids.delete(id);
      // A removed image imported again later by someone else is theirs: this hold no longer names it.
      await this.write();
    }
    return result;
  }

  private async write(): Promise<void> {
    // Replaced, never rewritten in place: `rollback` writes it after its transaction, outside the lock under
    // which remove and gc read it, and one of them reading it truncated would take an image it still holds.
    // Not synced: a hold means nothing after a reboot. A fetch's hold is the plain list older rkt-ts read; a
    // pod's says so, for remove's message.
    const images = this.images;
    const body = this.purpose === 'fetch' ? images : { purpose: this.purpose, images };
    await writeFileAtomic(join(this.ctx.layout.tmp, this.name), `${JSON.stringify(body)}\n`, { durable: false });
    this.written = true;
  }

  private checkLive(): void {
    if (this.released) throw new StoreError('STORE_BAD_REFERENCE', `hold ${this.name} was already released`, { subject: this.name });
  }

  /** Lets `remove` and `gc` have the images again. Idempotent; no file system work for a hold never written. */
  async release(): Promise<void> {
    this.released = true;
    if (!this.written) return;
    this.written = false;
    await rm(join(this.ctx.layout.tmp, this.name), { force: true });
  }
}

/** A live process's hold on an image: its pid, and what for. */
export interface Holder {
  readonly pid: number;
  readonly purpose: HoldPurpose;
}

function holdBody(v: unknown): { purpose: HoldPurpose; images: unknown[] } | undefined {
  if (Array.isArray(v)) return { purpose: 'fetch', images: v };
  const o = v as { purpose?: unknown; images?: unknown };
  if (typeof v !== 'object' || v === null || !Array.isArray(o.images)) return undefined;
  return { purpose: o.purpose === 'pod' ? 'pod' : 'fetch', images: o.images };
}

/** Image ID -> a live process holding it, other than the hold named `except`. Call under the index lock. */
export async function heldImages(l: Layout, except?: string): Promise<Map<string, Holder>> {
  const out = new Map<string, Holder>();
  for (const name of await readdir(l.tmp)) {
    if (!name.startsWith('hold-') || name === except || !ownerAlive(name)) continue;
    let body: ReturnType<typeof holdBody>;
    try {
      body = holdBody(JSON.parse(await readFile(join(l.tmp, name), 'utf8')));
    } catch {
      continue; // released meanwhile
    }
    if (body === undefined) continue;
    const pid = Number(/^hold-(\d+)\./.exec(name)?.[1]);
    for (const id of body.images) if (typeof id === 'string') out.set(id, { pid, purpose: body.purpose });
  }
  return out;
}

/** remove's words for a held image. */
export function heldBy(h: Holder): string {
  return h.purpose === 'pod' ? `is being used by rkt process ${h.pid} to prepare a pod` : `is being fetched by rkt process ${h.pid}`;
}
