import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError, isErrno } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { errnoReason, makeDirs } from './make-dirs.js';

/** Version of the on-disk layout (directories and file formats), stored in `cas/layout.json`. */
export const LAYOUT_VERSION = 1;
/** Version of the index's key and record formats, stored under the index key `meta/schema`. */
export const INDEX_VERSION = 1;

/** Every path of the store, under `<dataDir>/cas` so that pods and config can share the data dir as in rkt. */
export interface Layout {
  readonly dataDir: string;
  readonly root: string;
  readonly layoutFile: string;
  readonly index: string;
  /** A copy of the image records for readers that should not load LevelDB (see snapshot.ts). */
  readonly snapshot: string;
  readonly images: string;
  readonly trees: string;
  readonly refs: string;
  readonly tmp: string;
  /**
   * `tmp/partial`: downloads kept across processes so that the next one resumes them (the fetcher's Docker
   * layers), named by what they are of. gc keeps the directory and removes an entry only when it is stale (no
   * write for STALE_PARTIAL_MS) and no live process owns it.
   */
  readonly partial: string;
  readonly trash: string;
}

export function layoutOf(dataDir: string): Layout {
  const root = join(dataDir, 'cas');
  return {
    dataDir,
    root,
    layoutFile: join(root, 'layout.json'),
    index: join(root, 'index'),
    snapshot: join(root, 'images.json'),
    images: join(root, 'images'),
    trees: join(root, 'trees'),
    refs: join(root, 'refs'),
    tmp: join(root, 'tmp'),
    partial: join(root, 'tmp', 'partial'),
    trash: join(root, 'trash'),
  };
}

export const imageDir = (l: Layout, id: string): string => join(l.images, id);
export const blobPath = (l: Layout, id: string): string => join(l.images, id, 'aci');
export const manifestPath = (l: Layout, id: string): string => join(l.images, id, 'manifest');
export const treeDir = (l: Layout, treeId: string): string => join(l.trees, treeId);

/**
 * Upgrades from older layouts, keyed by the version they upgrade from. Version 1 is the first layout, so
 * nothing is older yet; a future layout change adds its step here and bumps LAYOUT_VERSION.
 */
const layoutUpgrades: Record<number, (l: Layout) => Promise<void>> = {};

async function readLayoutVersion(l: Layout): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(l.layoutFile, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new StoreError('STORE_IO', `cannot read ${l.layoutFile}: ${(err as Error).message}`, { subject: l.layoutFile, cause: err });
  }
  let version: unknown;
  try {
    version = (JSON.parse(text) as { layoutVersion?: unknown }).layoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new StoreError('STORE_LAYOUT', `${l.layoutFile}: not a valid layout file (expected {"layoutVersion": N})`, { subject: l.layoutFile });
  }
  return version;
}

/** Creates the store's directories or checks and upgrades an existing layout. Idempotent and race-free. */
export async function prepareLayout(l: Layout): Promise<void> {
  // The directories are made before the layout file is first written (below): a current layout file means
  // they are there, and every store open (each rkt command) skips the twelve system calls of making them.
  let version = await readLayoutVersion(l);
  if (version === LAYOUT_VERSION) return;
  // At once: recursive mkdirs of a common parent do not trip on each other. A directory added to this list
  // needs a new layout version whose upgrade step makes it: stores with a current layout file skip this.
  const dirs = [l.root, l.images, l.trees, l.refs, l.tmp, l.trash];
  const made = await Promise.allSettled(dirs.map((d) => makeDirs(d)));
  made.forEach((r, i) => {
    if (r.status === 'rejected') {
      throw new StoreError('STORE_LAYOUT', `cannot create ${dirs[i]}: ${errnoReason(r.reason)}`, { subject: dirs[i], cause: r.reason });
    }
  });
  if (version === undefined) {
    // Two first openers write the same content: whichever rename lands last wins, both are right.
    await writeFileAtomic(l.layoutFile, `${JSON.stringify({ layoutVersion: LAYOUT_VERSION })}\n`, l.tmp);
    return;
  }
  if (version > LAYOUT_VERSION) {
    throw new StoreError('STORE_VERSION',
      `${l.layoutFile}: store layout version ${version} is newer than this rkt-ts supports (${LAYOUT_VERSION}); use a newer rkt-ts`,
      { subject: l.layoutFile });
  }
  while (version < LAYOUT_VERSION) {
    const step = layoutUpgrades[version];
    if (step === undefined) {
      throw new StoreError('STORE_VERSION', `${l.layoutFile}: no upgrade from store layout version ${version}`, { subject: l.layoutFile });
    }
    await step(l);
    version += 1;
    await writeFileAtomic(l.layoutFile, `${JSON.stringify({ layoutVersion: version })}\n`, l.tmp);
  }
}
