import { rm } from 'node:fs/promises';
import { FetchError } from '../errors.js';
import { isFresh } from '../http/cache.js';
import { download } from '../http/download.js';
import type { AppName } from '../image-string.js';
import { verifyImageSignature, type Signer } from './verify-signature.js';
import { checkManifest } from './check-manifest.js';
import { holdIfStored, type FetchContext } from './context.js';
import { importChecked } from './import-checked.js';
import { verifyDetached } from '../keystore/verify.js';

export interface RemoteTarget {
  readonly aciUrl: URL;
  readonly ascUrl: URL;
  /** For a fetch by name: what the manifest must say. Absent for a plain URL. */
  readonly want?: AppName;
  /** For a dependency given by image ID: the ID the download must have. */
  readonly expectId?: string;
  /** No version was asked for: the image becomes the "latest" of its name in the store. */
  readonly latest: boolean;
}

export interface RemoteResult {
  readonly id: string;
  readonly downloaded: boolean;
  readonly signedBy: string | undefined;
}

/** The stored image a remote record points at, if that image is still in the store. */
async function cachedId(ctx: FetchContext, url: URL): Promise<{ id: string; etag: string | undefined; fresh: boolean } | undefined> {
  const rec = await ctx.store.getRemote(url.href);
  // Held from here: a 304 below must still find the image it confirms.
  if (rec === undefined || !(await holdIfStored(ctx, rec.imageId))) return undefined;
  return { id: rec.imageId, etag: rec.etag, fresh: isFresh(rec) };
}

/**
 * Fetches one ACI URL (and its signature) into the store, unless the store's record of that URL says
 * the copy we have is current: fresh by Cache-Control max-age (no request at all), or confirmed by a
 * 304 to If-None-Match. Nothing is stored unless the signature, manifest and ID checks all pass.
 */
export async function fetchRemote(ctx: FetchContext, t: RemoteTarget): Promise<RemoteResult> {
  ctx.http.checkScheme(t.aciUrl);
  if (t.aciUrl.protocol === 'http:') ctx.warn(`warning: fetching ${t.aciUrl.href} over plain http (--insecure-options=http)`);
  const cached = await cachedId(ctx, t.aciUrl);
  if (cached !== undefined && (ctx.pullPolicy === 'new' || cached.fresh)) {
    return { id: cached.id, downloaded: false, signedBy: undefined };
  }
  const res = await download(ctx.http, t.aciUrl, {
    partialDir: ctx.partialDir,
    ifNoneMatch: cached?.etag,
    progress: ctx.stderr,
    label: 'Downloading ACI',
    maxAttempts: ctx.network.maxAttempts,
  });
  if (res.status === 'not-modified') {
    // Known to exist: cachedId found it and only then was If-None-Match sent.
    const id = (cached as { id: string }).id;
    await ctx.store.putRemote({ url: t.aciUrl.href, imageId: id, signatureUrl: t.ascUrl.href, etag: res.etag, cacheMaxAge: res.maxAge });
    return { id, downloaded: false, signedBy: undefined };
  }
  try {
    let signature: Buffer | undefined;
    if (ctx.insecure.skipImageCheck) {
      ctx.warn('warning: image signature verification has been disabled (--insecure-options=image)');
    } else {
      signature = await fetchSignature(ctx, t.ascUrl, t.want?.name ?? t.aciUrl.href);
    }
    let signer: Signer | undefined;
    // A name is known before reading the archive: its signature is checked while the store scans the
    // archive, and nothing is stored unless it matched, so a tampered download is reported as such. For a
    // plain URL the signer's prefix is the manifest's name, known only from the scan.
    const verifying = signature !== undefined && t.want !== undefined
      ? verifyImageSignature(ctx, res.file, signature, t.ascUrl.href, t.want.name)
      : undefined;
    verifying?.catch(() => undefined); // awaited below either way; not an unhandled rejection meanwhile
    // For a URL the name comes with the manifest, at the end of the scan; hashing the signed bytes does not
    // need it, so that starts now with any key trusted for some name, and counts only if that key turns out
    // to be trusted for the manifest's name (otherwise the check below verifies, and reports, as before).
    const speculative = signature !== undefined && t.want === undefined ? speculativeVerify(ctx, res.file, signature, t.ascUrl.href) : undefined;
    speculative?.catch(() => undefined);
    let imported;
    try {
      imported = await importChecked(ctx, res.file, t.aciUrl.href, {
        latest: t.latest,
        remote: { url: t.aciUrl.href, signatureUrl: t.ascUrl.href, etag: res.etag, cacheMaxAge: res.maxAge },
        hold: ctx.hold,
      }, async ({ manifest, imageId }) => {
        if (verifying !== undefined) signer = await verifying;
        if (t.want !== undefined) checkManifest(manifest, t.want, t.aciUrl.href);
        if (signature !== undefined && t.want === undefined) {
          const early = await speculative?.catch(() => undefined);
          const ring = early === undefined ? [] : await ctx.keystore.keyringFor(manifest.name);
          signer = early !== undefined && ring.some((k) => k.fingerprint === early.fingerprint)
            ? early
            : await verifyImageSignature(ctx, res.file, signature, t.ascUrl.href, manifest.name);
        }
        if (t.expectId !== undefined && imageId !== t.expectId) {
          throw new FetchError('FETCH_MISMATCH', `${t.aciUrl.href}: image ID ${imageId} differs from the required ${t.expectId}`, { subject: t.aciUrl.href });
        }
        if (signer !== undefined) ctx.signatureVerified(signer.userIds);
      });
    } catch (err) {
      // Bytes that are not what was signed explain a broken archive better than the archive's error does.
      if (verifying !== undefined) await verifying;
      throw err;
    }
    const signedBy = signer?.fingerprint;
    return { id: imported.id, downloaded: true, signedBy };
  } finally {
    await rm(res.file, { force: true });
  }
}

async function speculativeVerify(ctx: FetchContext, file: string, signature: Buffer, source: string): Promise<Signer | undefined> {
  const keyring = await ctx.keystore.anyTrustedKeys();
  if (keyring.length === 0) return undefined;
  return verifyDetached({ file, signature, signatureSource: source, keyring, name: source });
}

async function fetchSignature(ctx: FetchContext, url: URL, what: string): Promise<Buffer> {
  const res = await ctx.http.getBytes(url);
  if (res.status !== 200) {
    throw new FetchError('FETCH_SIGNATURE',
      `${what}: no signature: ${url.href}: bad HTTP status code: ${res.status} (an unsigned image is fetched only with --insecure-options=image)`, { subject: url.href });
  }
  return res.body;
}
