import { rm } from 'node:fs/promises';
import { StoreError } from '@rkt/image-store';
import { FetchError } from '../errors.js';
import { parseImageString, withHostDefaults } from '../image-string.js';
import { createContext, holdIfStored, type FetchContext } from './context.js';
import { fetchDependencies } from './dependencies.js';
import { fetchFile } from './fetch-file.js';
import { fetchByName } from './fetch-name.js';
import { fetchRemote, type RemoteResult } from './fetch-remote.js';
import type { FetchOptions, FetchResult } from './options.js';

/**
 * `rkt fetch IMAGE`: an image ID (store only), an http(s) URL, a path or file:// URL, or a name with labels
 * (`example.com/app:v1.2,os=linux`) found through appc discovery. Signatures are required and checked
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
  let extracted: string | undefined;
  try {
    const r = await fetchTop(ctx, imageString, renders);
    extracted = r.extracted;
    const dependencies = withDeps ? await fetchDependencies(ctx, r.id) : [];
    // The render takes the early extraction over (or removes it): nothing left for the finally below.
    const treeId = renders ? (await ctx.store.render(r.id, { extracted: takeOnce() })).id : undefined;
    const rec = await ctx.store.get(r.id);
    return { id: r.id, name: rec?.name ?? '', downloaded: r.downloaded, signedBy: r.signedBy, dependencies, treeId };
  } finally {
    if (extracted !== undefined) await rm(extracted, { recursive: true, force: true });
    await ctx.hold.release();
  }

  function takeOnce(): string | undefined {
    const x = extracted;
    extracted = undefined;
    return x;
  }
}

async function fetchTop(ctx: FetchContext, imageString: string, extract: boolean): Promise<RemoteResult> {
  const parsed = parseImageString(imageString, { cwd: ctx.cwd });
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
      return fetchFile(ctx, parsed.path);
    case 'url': {
      ctx.http.checkScheme(parsed.url);
      if (ctx.pullPolicy === 'never') {
        const rec = await ctx.store.getRemote(parsed.url.href);
        if (rec !== undefined && (await holdIfStored(ctx, rec.imageId))) return { id: rec.imageId, downloaded: false, signedBy: undefined };
        throw new FetchError('FETCH_NOT_FOUND', `${parsed.url.href}: not in the store and the pull policy is "never"`, { subject: parsed.url.href });
      }
      return fetchRemote(ctx, { aciUrl: parsed.url, ascUrl: new URL(`${parsed.url.href}.asc`), latest: false, extract });
    }
    case 'name':
      return fetchByName(ctx, withHostDefaults(parsed.app), undefined, extract);
  }
}
