import { readFile } from 'node:fs/promises';
import { readStoreManifest, type Dependency, type StoreManifest } from './aci/manifest.js';
import { isErrno, StoreError } from './errors.js';
import type { IndexTx } from './index-db.js';
import { manifestPath, type Layout } from './layout.js';
import { pickByName } from './lookup.js';
import type { ImageRecord } from './records.js';
import { createHash } from './lazy-crypto.js';

export interface PlannedLayer {
  readonly imageId: string;
  readonly whitelists: readonly (readonly string[])[];
}

export interface Plan {
  readonly image: ImageRecord;
  readonly treeId: string;
  /** Extraction order: dependencies depth-first, the image itself last. */
  readonly layers: readonly PlannedLayer[];
}

const MAX_DEPTH = 64;

export async function readManifest(l: Layout, id: string): Promise<StoreManifest> {
  const path = manifestPath(l, id);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new StoreError('STORE_LAYOUT', `image ${id} has no readable manifest (${(err as Error).message})`, { subject: path, cause: err });
  }
  return readStoreManifest(bytes, path);
}

function describeDep(d: Dependency): string {
  const labels = d.labels.map((x) => `${x.name}=${x.value}`).join(',');
  return `${d.imageName}${labels === '' ? '' : `,${labels}`}${d.imageID === undefined ? '' : ` (${d.imageID})`}`;
}

/** The stored image a render layers for `d`: one with its name and labels (and ID, when it pins one). */
function findDependency(all: readonly ImageRecord[], d: Dependency): ImageRecord | undefined {
  const candidates = d.imageID === undefined ? all : all.filter((i) => i.id.startsWith(d.imageID as string));
  return pickByName(candidates, { name: d.imageName, labels: d.labels });
}

function resolveDependency(all: readonly ImageRecord[], d: Dependency, of: ImageRecord): ImageRecord {
  const found = findDependency(all, d);
  if (found === undefined) {
    throw new StoreError('STORE_DEPENDENCY', `dependency ${describeDep(d)} of ${of.name} (${of.id.slice(0, 19)}) is not in the store`, { subject: d.imageName });
  }
  if (d.size !== undefined && d.size !== found.blobSize) {
    throw new StoreError('STORE_DEPENDENCY',
      `dependency ${describeDep(d)} of ${of.name}: size ${found.blobSize} differs from the ${d.size} the manifest requires`, { subject: d.imageName });
  }
  return found;
}

/**
 * Resolves the image's dependencies in the store (appc: depth-first, in manifest order) and names the tree
 * after what goes into it: the ordered image IDs and the whitelists that filter each.
 */
export async function planTree(l: Layout, tx: Pick<IndexTx, 'images'>, image: ImageRecord, withDependencies = true): Promise<Plan> {
  const layers = await planLayers(l, tx, image, withDependencies);
  return { image, treeId: treeIdOf(layers), layers };
}

export function treeIdOf(layers: readonly PlannedLayer[]): string {
  return `deps-sha512-${createHash('sha512').update(JSON.stringify(layers.map((x) => [x.imageId, x.whitelists]))).digest('hex')}`;
}

/**
 * The tree whose layers are exactly `layers`, among `trees`, found without hashing (so without loading
 * node:crypto, ~10 ms of a `rkt run`): when no layer is filtered by a whitelist, the tree ID is a function
 * of the ordered image IDs alone, and every image's whitelist comes from its own manifest, so any tree of
 * the same image IDs in the same order is this one. With whitelists, the tree of `treeIdOf(layers)`.
 */
export function treeOfLayers<T extends { readonly id: string; readonly imageId: string; readonly layers: readonly string[] }>(
  trees: readonly T[],
  layers: readonly PlannedLayer[],
): T | undefined {
  if (layers.some((x) => x.whitelists.length > 0)) {
    const id = treeIdOf(layers);
    return trees.find((t) => t.id === id);
  }
  const top = layers[layers.length - 1]?.imageId;
  return trees.find((t) => t.imageId === top && t.layers.length === layers.length && t.layers.every((id, i) => id === layers[i]?.imageId));
}

/** planTree's layers, without the tree ID (see treeOfLayers). */
export async function planLayers(l: Layout, tx: Pick<IndexTx, 'images'>, image: ImageRecord, withDependencies = true): Promise<PlannedLayer[]> {
  const all = await tx.images();
  const layers: PlannedLayer[] = [];
  const placed = new Set<string>();
  const visit = async (img: ImageRecord, above: readonly (readonly string[])[], chain: readonly string[]): Promise<void> => {
    if (chain.includes(img.id)) {
      throw new StoreError('STORE_DEPENDENCY', `dependency cycle: ${[...chain, img.id].map((c) => c.slice(0, 19)).join(' -> ')}`, { subject: img.id });
    }
    if (chain.length > MAX_DEPTH) throw new StoreError('STORE_DEPENDENCY', `dependencies of ${image.name} nest deeper than ${MAX_DEPTH}`, { subject: image.id });
    const m = await readManifest(l, img.id);
    const whitelists = m.pathWhitelist.length > 0 ? [...above, m.pathWhitelist] : above;
    if (withDependencies) {
      for (const d of m.dependencies) await visit(resolveDependency(all, d, img), whitelists, [...chain, img.id]);
    }
    // In a DAG a shared dependency is extracted once, where depth-first order first reaches it.
    if (!placed.has(img.id)) {
      placed.add(img.id);
      layers.push({ imageId: img.id, whitelists });
    }
  };
  await visit(image, [], []);
  return layers;
}

/** A dependency a render of the image would not find in the store, and the image whose manifest names it. */
export interface MissingDependency {
  readonly dependency: Dependency;
  readonly of: { readonly id: string; readonly name: string };
  /** `dependency NAME,LABELS of NAME (sha512-...) is not in the store`, as the render would say it. */
  readonly message: string;
}

/**
 * The first dependency in `image`'s chain (depth first, as `planLayers` walks it) that the store lacks, or
 * undefined when a render would find every one. What `rkt run` asks before it loads the fetcher: a cycle, a
 * chain too deep or a size mismatch is not "missing", and is left for the render to report.
 */
export async function findMissingDependency(l: Layout, all: readonly ImageRecord[], image: ImageRecord): Promise<MissingDependency | undefined> {
  const visited = new Set<string>();
  const visit = async (img: ImageRecord, depth: number): Promise<MissingDependency | undefined> => {
    if (visited.has(img.id) || depth > MAX_DEPTH) return undefined;
    visited.add(img.id);
    for (const d of (await readStoredManifest(l, img.id)).dependencies) {
      const found = findDependency(all, d);
      if (found === undefined) {
        return { dependency: d, of: { id: img.id, name: img.name }, message: `dependency ${describeDep(d)} of ${img.name} (${img.id.slice(0, 19)}) is not in the store` };
      }
      const deeper = await visit(found, depth + 1);
      if (deeper !== undefined) return deeper;
    }
    return undefined;
  };
  return visit(image, 0);
}

/** readManifest, for an image looked up without the index: gone since is STORE_NOT_FOUND, as `resolve` says it. */
async function readStoredManifest(l: Layout, id: string): Promise<StoreManifest> {
  try {
    return await readManifest(l, id);
  } catch (err) {
    if (err instanceof StoreError && isErrno(err.cause, 'ENOENT')) {
      throw new StoreError('STORE_NOT_FOUND', `image ${id} was removed`, { subject: id, cause: err });
    }
    throw err;
  }
}
