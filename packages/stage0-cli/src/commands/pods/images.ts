import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { readValidatedImageManifest } from '@rkt/appc-spec/lean';
import type { PullPolicy } from '@rkt/fetcher';
import { StoreError, type ImageHold, type Store } from '@rkt/image-store';
import { markAtypicalRun } from '../../code-cache.js';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { fetchOptions } from '../fetch-options.js';
import { mustBeSignatureFile, type SignatureFile } from '../signature-flag.js';

/** Whether an image argument names a file: rkt took anything that exists on disk, or looks like a path, as one. */
async function isFile(arg: string, cwd: string): Promise<boolean> {
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.endsWith('.aci')) return true;
  return (await stat(resolvePath(cwd, arg)).catch(() => undefined))?.isFile() === true;
}

/** The file an image argument names, refused in one line when it is missing or not a regular file (a directory). */
export async function statImageFile(path: string, what = 'image file'): Promise<{ size: number; mtimeMs: number; ino: number }> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (err) {
    throw new CliError('CLI_BAD_ARGS', `${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new CliError('CLI_BAD_ARGS', `${what} ${path}: not a file`);
  return st;
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
  /**
   * Look for what an image's dependency chain lacks before the pod is prepared (withDependencies). Off on a
   * first attempt: the pod's render finds every dependency there in the usual `rkt run`, and asking the store
   * first cost every run a read of each manifest (0.2-0.8 ms); a render that misses one fails with
   * STORE_DEPENDENCY, and the pod is prepared again with this on (common.ts).
   */
  readonly dependencies: boolean;
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
export async function importFile(store: Store, path: string, claim: ImageClaim, checked?: { size: number; mtimeMs: number; ino: number }): Promise<string> {
  // `checked`: the caller's statImageFile of the same path, when it checked the file already (one stat a run).
  const st = checked ?? (await statImageFile(path));
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

/**
 * Through `@rkt/fetcher`, with the command's pull policy (`new` by default: a stored match is used without
 * asking any server). The image and its dependencies stay held after the fetch, until the pod references them.
 */
async function fetchWith(ctx: CommandContext, store: Store, imageString: string, claim: ImageClaim, policy: PullPolicy, render = true, signatureFile?: string): Promise<string> {
  // Loaded only here: `rkt run` of a stored image or an unverified file, its dependencies stored, never pays for
  // openpgp and the HTTP stack.
  markAtypicalRun();
  const { fetchImage } = await import('@rkt/fetcher');
  return (await fetchImage(imageString, { ...fetchOptions(ctx, store, policy), hold: claim.hold, render, ...(signatureFile !== undefined ? { signatureFile } : {}) })).id;
}

/**
 * `id`, found in the store or imported from a file, with what is missing of its dependency chain fetched, as
 * rkt's fetcher fetched an image's dependencies (by name, through discovery) whether or not it had the image
 * itself. Each dependency goes through the pull policy: with `new` and `never` the store is asked first (the
 * snapshot and the manifests on disk, no fetcher: the usual `rkt run`, every dependency stored, loads none of
 * it) and the fetcher loaded only when something is missing, to fetch it or, with `never`, to refuse in one
 * line naming it and the image needing it; with `update` every dependency is asked of its server, and an image
 * without any (most of them) loads no fetcher: there is nothing to ask about (its manifest, on disk, says so).
 */
async function withDependencies(ctx: CommandContext, store: Store, id: string, claim: ImageClaim, policy: PullPolicy): Promise<string> {
  if (policy !== 'update') {
    if (!claim.dependencies) return id;
    const missing = await orGone(claim, store.missingDependency(id));
    if (missing === undefined) return id;
    ctx.log.debug(`${missing.message}: fetching what is missing (pull policy ${policy})`);
  } else {
    const manifest = readValidatedImageManifest(await orGone(claim, store.manifest(id)), `${id}: manifest`);
    if ((manifest.dependencies ?? []).length === 0) return id;
  }
  // Held before the fetcher looks for it by ID: removed since it was found, it is resolved again (common.ts),
  // not refused as an ID that names nothing.
  if (!(await claim.hold.addIfStored(id))) {
    const gone = new StoreError('STORE_NOT_FOUND', `image ${id} was removed`, { subject: id });
    throw claim.strict ? gone : new ImageGone(gone);
  }
  // The pod renders the tree, with its reference (render: false): the fetch only stores and holds the images.
  return fetchWith(ctx, store, id, claim, policy, false);
}

/** What the store says of an image found without the index; removed since, it is resolved again, held (common.ts). */
async function orGone<T>(claim: ImageClaim, read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (!claim.strict && err instanceof StoreError && err.code === 'STORE_NOT_FOUND') throw new ImageGone(err);
    throw err;
  }
}

/**
 * The image ID an `IMAGE` argument of run/prepare names, as rkt resolved it with `--pull-policy` (default
 * `new`), with its dependencies (withDependencies):
 * - an ACI file: with `--insecure-options=image` imported (cached by path, size and mtime, so an unchanged
 *   file is not hashed again); otherwise through the fetcher, which checks `FILE.aci.asc` against the trusted
 *   keys and refuses an unsigned file; a file is imported whatever the policy;
 * - a URL (`https://`, `http://` with `--insecure-options=http`, `file://`): through the fetcher (`new`: the
 *   stored download of that URL, else fetched);
 * - an image ID or unique prefix: the store only;
 * - a name (`name[:version][,label=value...]`): `new` and `never` the newest match in the store, else (`new`
 *   and `update`) fetched through discovery.
 * With `signature` (rkt's `--signature`), anything but a file imported unchecked goes to the fetcher, which
 * verifies a fetched image with it instead of its `.asc`, and refuses it for an image ID.
 */
export async function resolveImageArg(
  ctx: CommandContext, store: Store, arg: string, claim: ImageClaim, policy: PullPolicy, signature?: SignatureFile,
): Promise<string> {
  // First: a URL ending in `.aci` would otherwise look like a relative path. (Both cases spelled out: a
  // case-insensitive class costs its first compile a case-folding pass, and this runs on every rkt run.)
  const isUrl = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg);
  const path = !isUrl && (await isFile(arg, ctx.cwd)) ? resolvePath(ctx.cwd, arg) : undefined;
  const skipCheck = ctx.globals.insecureOptions.skipImageCheck;
  // rkt skipped the check, --signature's file included: the image is imported as it is.
  if (path !== undefined && skipCheck) return withDependencies(ctx, store, await importFile(store, path, claim), claim, policy);
  // Checked here so that a missing file or a directory is reported as such, not as a missing signature.
  if (path !== undefined) await statImageFile(path);
  if (signature !== undefined && !skipCheck) mustBeSignatureFile(signature);
  if (isUrl || path !== undefined || signature !== undefined) return fetchWith(ctx, store, path ?? arg, claim, policy, true, signature?.path);
  const isId = arg.startsWith('sha512-');
  // `update` asks the server about a name even when the store has it, as `rkt fetch` does.
  if (policy === 'update' && !isId) return fetchWith(ctx, store, arg, claim, policy);
  let stored: string | undefined;
  try {
    stored = (await store.resolve(arg)).id;
  } catch (err) {
    // An ID is never fetched; a name missing from the store is (labels too: the fetcher matches them).
    if (!(err instanceof StoreError && err.code === 'STORE_NOT_FOUND') || isId) throw err;
  }
  if (stored !== undefined) {
    const held = await claimStored(claim, stored);
    if (held !== undefined) return withDependencies(ctx, store, held, claim, policy);
    // Removed between the lookup and the hold: as if it had not been found.
    if (isId) throw new StoreError('STORE_NOT_FOUND', `no image with ID ${stored} in the store`, { subject: stored });
  }
  // With `never`, the fetcher refuses it in one line.
  return fetchWith(ctx, store, arg, claim, policy);
}

/**
 * An image found without the index was removed before the pod could reference it: prepareFromCli resolves the
 * images again, holding each as it is found, and prepares a new pod. Never leaves the pod commands.
 */
export class ImageGone extends Error {
  constructor(readonly reason: StoreError) {
    super(reason.message, { cause: reason });
  }
}
