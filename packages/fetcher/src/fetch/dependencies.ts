import { readValidatedImageManifest } from '@rkt/appc-spec/lean';
import { StoreError } from '@rkt/image-store';
import { FetchError, firstLine } from '../errors.js';
import { formatAppName, type AppName } from '../image-string.js';
import type { FetchContext } from './context.js';
import { fetchByName } from './fetch-name.js';

const MAX_DEPTH = 32;

/**
 * Fetches the dependencies of an image, depth first, by image ID when the store has it, else by name
 * and labels through discovery (checking the ID when one is given). Returns the IDs in the order they
 * were resolved (deepest first), so a caller sees the order a render will layer them in.
 */
export async function fetchDependencies(ctx: FetchContext, imageId: string, chain: readonly string[] = []): Promise<string[]> {
  if (chain.length >= MAX_DEPTH) {
    throw new FetchError('FETCH_DEPENDENCY', `dependency chain deeper than ${MAX_DEPTH}: ${chain.join(' -> ')}`, { subject: imageId });
  }
  // The store's copy, validated at import: read for its shape only, without loading zod (most of a `rkt fetch`
  // of an image already there).
  const manifest = readValidatedImageManifest(await ctx.store.manifest(imageId), `${imageId}: manifest`);
  const out: string[] = [];
  for (const dep of manifest.dependencies ?? []) {
    const want: AppName = { name: dep.imageName, labels: (dep.labels ?? []).map((l) => ({ name: l.name, value: l.value })) };
    const label = formatAppName(want);
    // By name: a chain that comes back to a name it is already resolving can only loop.
    if (chain.includes(dep.imageName) || dep.imageName === manifest.name) {
      throw new FetchError('FETCH_DEPENDENCY', `dependency cycle: ${[...chain, manifest.name, label].join(' -> ')}`, { subject: label });
    }
    let id: string;
    if (dep.imageID !== undefined && (await ctx.hold.addIfStored(dep.imageID))) {
      id = dep.imageID;
    } else {
      id = await fetchDependency(ctx, want, dep.imageID, manifest.name);
    }
    out.push(...(await fetchDependencies(ctx, id, [...chain, manifest.name])), id);
  }
  return out;
}

/**
 * One dependency through discovery. Its failure names it and the image that needs it, in one line, keeping
 * the code of what went wrong (a signature, a mismatch, discovery): without it, `rkt fetch app` said only
 * "discovery of image endpoints for example.com/base failed", which reads as if the user had asked for that.
 */
async function fetchDependency(ctx: FetchContext, want: AppName, expectId: string | undefined, of: string): Promise<string> {
  const what = `dependency ${formatAppName(want)} of ${of}`;
  try {
    return (await fetchByName(ctx, want, { expectId, what })).id;
  } catch (err) {
    // The pull policy's refusal names the dependency and its parent already.
    if (err instanceof FetchError && err.code === 'FETCH_NOT_FOUND') throw err;
    if (err instanceof FetchError) throw new FetchError(err.code, `${what}: ${firstLine(err)}`, { subject: formatAppName(want), cause: err, transient: err.transient });
    if (err instanceof StoreError) throw new StoreError(err.code, `${what}: ${firstLine(err)}`, { subject: formatAppName(want), cause: err });
    throw err;
  }
}
