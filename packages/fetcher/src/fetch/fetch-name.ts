import { StoreError } from '@rkt/image-store';
import { discover, discoveryFailure } from '../discovery/discover.js';
import { FetchError } from '../errors.js';
import { formatAppName, labelValue, withHostDefaults, type AppName } from '../image-string.js';
import type { FetchContext } from './context.js';
import { fetchRemote, type RemoteResult } from './fetch-remote.js';
import { maybeTrustKeysFromHttps } from './auto-trust.js';

/** The stored image `want` names (every label matching), if any. */
export async function findInStore(ctx: FetchContext, want: AppName): Promise<string | undefined> {
  try {
    return (await ctx.store.resolve({ name: want.name, labels: want.labels })).id;
  } catch (err) {
    if (err instanceof StoreError && err.code === 'STORE_NOT_FOUND') return undefined;
    throw err;
  }
}

export interface ByNameOptions {
  /** A dependency given by image ID: the ID the image must have. */
  readonly expectId?: string;
  /** Extract the image while it streams in (it is rendered right after). */
  readonly extract?: boolean;
  /** A local signature (`--signature`) used instead of the discovered one, which is then not fetched, as rkt did. */
  readonly signatureFile?: string;
  /** The image in the refusal of the pull policy `never` (a dependency names its parent there: `dependency B of A`). */
  readonly what?: string;
}

/**
 * Fetches an image by name and labels through appc discovery. `want` is what the manifest must match;
 * discovery fills its templates from `want` with os and arch defaulting to the host's. The first
 * endpoint that works wins: an endpoint that cannot be reached makes us try the next, but a signature or
 * manifest failure stops the fetch (another copy of a bad image is no better).
 */
export async function fetchByName(ctx: FetchContext, want: AppName, opts: ByNameOptions = {}): Promise<RemoteResult> {
  const { expectId, extract = false, signatureFile, what = `image ${formatAppName(want)}` } = opts;
  if (ctx.pullPolicy !== 'update') {
    const id = expectId !== undefined && (await ctx.store.get(expectId)) !== undefined ? expectId : await findInStore(ctx, want);
    if (id !== undefined && (expectId === undefined || id === expectId) && (await ctx.hold.addIfStored(id))) return { id, downloaded: false, signedBy: undefined };
    if (ctx.pullPolicy === 'never') {
      throw new FetchError('FETCH_NOT_FOUND', `${what} is not in the store and the pull policy is "never"`, { subject: want.name });
    }
  }
  await maybeTrustKeysFromHttps(ctx, want.name);
  const app = withHostDefaults(want);
  const { endpoints, attempts } = await discover(ctx.http, app, 'aci', { port: ctx.network.discoveryPort, allowHttp: ctx.insecure.allowHttp });
  if (endpoints.aciEndpoints.length === 0) throw discoveryFailure(app, 'image endpoints', attempts);
  // https templates first: the spec says public discovery should offer one, and we trust it most.
  const ordered = [...endpoints.aciEndpoints].sort((a, b) => Number(!a.aci.startsWith('https:')) - Number(!b.aci.startsWith('https:')));
  let lastError: unknown;
  for (const ep of ordered) {
    let aciUrl: URL;
    let ascUrl: URL;
    try {
      aciUrl = new URL(ep.aci);
      ascUrl = new URL(ep.asc);
    } catch {
      lastError = new FetchError('FETCH_DISCOVERY', `${want.name}: discovery template gave an invalid URL ${JSON.stringify(ep.aci)}`, { subject: want.name });
      continue;
    }
    if (aciUrl.protocol !== 'https:' && aciUrl.protocol !== 'http:') {
      lastError = new FetchError('FETCH_DISCOVERY', `${want.name}: unsupported scheme in discovered URL ${aciUrl.href}`, { subject: want.name });
      continue;
    }
    try {
      return await fetchRemote(ctx, { aciUrl, ascUrl, want, expectId, signatureFile, latest: labelValue(want, 'version') === undefined, extract });
    } catch (err) {
      if (err instanceof FetchError && (err.code === 'FETCH_HTTP' || err.code === 'FETCH_INSECURE')) {
        lastError = err;
        continue;
      }
      throw err;
    }
  }
  throw lastError instanceof Error ? lastError : new FetchError('FETCH_DISCOVERY', `${want.name}: no usable endpoint`, { subject: want.name });
}
