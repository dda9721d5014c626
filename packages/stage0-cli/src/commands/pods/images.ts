import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { StoreError, type ImageHold, type Store } from '@rkt/image-store';
import { markAtypicalRun } from '../../code-cache.js';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { fetchOptions } from '../fetch-options.js';

/** Whether an image argument names a file: rkt took anything that exists on disk, or looks like a path, as one. */
async function isFile(arg: string, cwd: string): Promise<boolean> {
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.endsWith('.aci')) return true;
  return (await stat(resolvePath(cwd, arg)).catch(() => undefined))?.isFile() === true;
}

async function statImageFile(path: string): Promise<{ size: number; mtimeMs: number; ino: number }> {
  try {
    return await stat(path);
  } catch (err) {
    throw new CliError('CLI_BAD_ARGS', `image file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
}

/**
 * How run/prepare keep the images they resolve from `rkt image rm` and gc until their pod references them
 * (rkt held a shared lock on each image meanwhile). Images imported or fetched are added to `hold` in the
 * transaction that stores or finds them, which costs nothing more. Images found in the store (a stored name
 * or ID, an unchanged file imported before) are found from the store's snapshot, without its index, as
 * `rkt run`'s fast path must be; `strict` also holds them, one index transaction each. Run/prepare try
 * without it first: the pod's reference pins them a moment later, and if one was removed in between, the
 * pod's preparation fails with STORE_NOT_FOUND and is done again, strictly (common.ts).
 */
export interface ImageClaim {
  readonly hold: ImageHold;
  readonly strict: boolean;
}

/** `id`, found in the store: held when the claim is strict. Undefined when it was removed since it was found. */
export async function claimStored(claim: ImageClaim, id: string): Promise<string | undefined> {
  if (!claim.strict) return id;
  return (await claim.hold.addIfStored(id)) ? id : undefined;
}

/**
 * Imports an ACI file into the store, or finds it there from an earlier import of the same unchanged
 * file (the file:// URL, size and mtime are the cache key, as a download's URL and ETag are).
 */
export async function importFile(store: Store, path: string, claim: ImageClaim): Promise<string> {
  const st = await statImageFile(path);
  const url = `file://${path}`;
  const etag = `${st.size}-${st.mtimeMs}-${st.ino}`;
  const cached = await store.fileImport(url, etag);
  // Removed since it was found: imported again, as if it never had been.
  const found = cached === undefined ? undefined : await claimStored(claim, cached);
  if (found !== undefined) return found;
  markAtypicalRun();
  const { id } = await store.importAci(path, { source: path, remote: { url, etag }, hold: claim.hold });
  return id;
}

/** Through `@rkt/fetcher` with rkt run's pull policy `new`: a stored match is used without asking any server. */
async function fetchNew(ctx: CommandContext, store: Store, imageString: string, claim: ImageClaim): Promise<string> {
  // Loaded only here: `rkt run` of a stored image or an unverified file never pays for openpgp and the HTTP stack.
  markAtypicalRun();
  const { fetchImage } = await import('@rkt/fetcher');
  // The image and its dependencies stay held after the fetch, until the pod references them.
  return (await fetchImage(imageString, { ...fetchOptions(ctx, store, 'new'), hold: claim.hold })).id;
}

/**
 * The image ID an `IMAGE` argument of run/prepare names, as rkt resolved it with pull policy `new`:
 * - an ACI file: with `--insecure-options=image` imported (cached by path, size and mtime, so an unchanged
 *   file is not hashed again); otherwise through the fetcher, which checks `FILE.aci.asc` against the
 *   trusted keys and refuses an unsigned file;
 * - a URL (`https://`, `http://` with `--insecure-options=http`, `file://`): the stored download of that
 *   URL, else fetched;
 * - an image ID or unique prefix: the store only;
 * - a name (`name[:version][,label=value...]`): the newest match in the store, else fetched through
 *   discovery.
 */
export async function resolveImageArg(ctx: CommandContext, store: Store, arg: string, claim: ImageClaim): Promise<string> {
  // First: a URL ending in `.aci` would otherwise look like a relative path. (Both cases spelled out: a
  // case-insensitive class costs its first compile a case-folding pass, and this runs on every rkt run.)
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg)) return fetchNew(ctx, store, arg, claim);
  if (await isFile(arg, ctx.cwd)) {
    const path = resolvePath(ctx.cwd, arg);
    if (ctx.globals.insecureOptions.skipImageCheck) return importFile(store, path, claim);
    // Checked here so that a missing file is reported as such, not as a missing signature.
    await statImageFile(path);
    return fetchNew(ctx, store, path, claim);
  }
  let stored: string | undefined;
  try {
    stored = (await store.resolve(arg)).id;
  } catch (err) {
    // An ID is never fetched; a name missing from the store is (labels too: the fetcher matches them).
    if (!(err instanceof StoreError && err.code === 'STORE_NOT_FOUND') || arg.startsWith('sha512-')) throw err;
  }
  if (stored !== undefined) {
    const held = await claimStored(claim, stored);
    if (held !== undefined) return held;
    // Removed between the lookup and the hold: as if it had not been found.
    if (arg.startsWith('sha512-')) throw new StoreError('STORE_NOT_FOUND', `no image with ID ${stored} in the store`, { subject: stored });
  }
  return fetchNew(ctx, store, arg, claim);
}
