import { rm } from 'node:fs/promises';
import { StoreError, type HeldImport } from '@rkt/image-store';
import { FetchError, firstLine } from '../errors.js';
import { parseImageString, signatureFileApplies, withHostDefaults } from '../image-string.js';
import { createContext, type FetchContext } from './context.js';
import { fetchDependencies } from './dependencies.js';
import { fetchDocker } from './fetch-docker.js';
import { fetchFile } from './fetch-file.js';
import { fetchByName } from './fetch-name.js';
import { fetchRemote, type RemoteResult } from './fetch-remote.js';
import type { FetchOptions, FetchResult } from './options.js';

/**
 * `rkt fetch IMAGE`: an image ID (store only), an http(s) URL, a path or file:// URL, a name with labels
 * (`example.com/app:v1.2,os=linux`) found through appc discovery, or a Docker image (`docker://busybox`,
 * converted to an ACI; only with `insecure.skipImageCheck`, as rkt). Signatures are required and checked
 * against trusted keys unless `insecure.skipImageCheck`; dependencies are fetched and the image rendered
 * into the tree store, unless turned off.
 *
 * ```ts
 * const store = await openStore({ dir: '/var/lib/rkt' });
 * const r = await fetchImage('example.com/app:v1.2', { store, stderr: process.stderr });
 * console.log(r.id); // sha512-...
 * ```
 */
export async function fetchImage(imageString: string, opts: FetchOptions): Promise<FetchResult> {
  const ctx = await createContext(opts);
  // The hold keeps a concurrent `rkt image rm` or gc from taking an image between its import and the render.
  const withDeps = opts.withDependencies !== false;
  const renders = withDeps && opts.render !== false;
  // A caller's hold may carry imports of its own from before: only this fetch's are undone on failure.
  const earlier = new Set(ctx.hold.imports);
  let extracted: string | undefined;
  try {
    const r = await fetchTop(ctx, imageString, renders);
    extracted = r.extracted;
    const dependencies = withDeps ? await fetchDependencies(ctx, r.id) : [];
    // The render takes the early extraction over (or removes it): nothing left for the finally below.
    const treeId = renders ? (await ctx.store.render(r.id, { extracted: takeOnce() })).id : undefined;
    const rec = await ctx.store.get(r.id);
    return { id: r.id, name: rec?.name ?? '', downloaded: r.downloaded, signedBy: r.signedBy, dependencies, treeId };
  } catch (err) {
    // A fetch that fails leaves the store as it found it: an image stored without the dependency it needs
    // (or that would not render) is of no use, and rkt's "fetch failed" should not leave it behind.
    await undoImports(ctx, ctx.hold.imports.filter((i) => !earlier.has(i)));
    throw err;
  } finally {
    if (extracted !== undefined) await rm(extracted, { recursive: true, force: true });
    if (ctx.ownsHold) await ctx.hold.release();
  }

  function takeOnce(): string | undefined {
    const x = extracted;
    extracted = undefined;
    return x;
  }
}

/**
 * Removes the images this fetch added (never one stored before it, nor one a pod or another process uses
 * now: the store's `rollback` keeps those), after a failure. Its own failure must not hide the fetch's: it
 * is said as a warning, and gc removes what is left once nothing uses it.
 */
async function undoImports(ctx: FetchContext, imports: readonly HeldImport[]): Promise<void> {
  if (imports.length === 0) return;
  try {
    await ctx.hold.rollback(imports);
  } catch (err) {
    ctx.warn(`warning: the images this fetch stored are left in the store: ${firstLine(err)}`);
  }
}

async function fetchTop(ctx: FetchContext, imageString: string, extract: boolean): Promise<RemoteResult> {
  const parsed = parseImageString(imageString, { cwd: ctx.cwd });
  const signatureFile = ctx.options.signatureFile;
  if (signatureFile !== undefined) signatureFileApplies(parsed, signatureFile);
  switch (parsed.kind) {
    case 'id':
      try {
        const { id } = await ctx.store.resolve(parsed.id);
        await ctx.hold.add([id]);
        return { id, downloaded: false, signedBy: undefined };
      } catch (err) {
        if (err instanceof StoreError && err.code === 'STORE_NOT_FOUND') {
          throw new FetchError('FETCH_NOT_FOUND', `${parsed.id}: no image with this ID in the store (an image ID names an image already fetched)`, { subject: parsed.id, cause: err });
        }
        throw err;
      }
    case 'path':
      return fetchFile(ctx, parsed.path, signatureFile);
    case 'url': {
      ctx.http.checkScheme(parsed.url);
      if (ctx.pullPolicy === 'never') {
        const rec = await ctx.store.getRemote(parsed.url.href);
        if (rec !== undefined && (await ctx.hold.addIfStored(rec.imageId))) return { id: rec.imageId, downloaded: false, signedBy: undefined };
        throw new FetchError('FETCH_NOT_FOUND', `${parsed.url.href}: not in the store and the pull policy is "never"`, { subject: parsed.url.href });
      }
      return fetchRemote(ctx, { aciUrl: parsed.url, ascUrl: new URL(`${parsed.url.href}.asc`), signatureFile, latest: false, extract });
    }
    case 'name':
      return fetchByName(ctx, withHostDefaults(parsed.app), { extract, signatureFile });
    case 'docker':
      return fetchDocker(ctx, parsed.ref, { extract });
  }
}
