import { unlink } from 'node:fs';
import { rm } from 'node:fs/promises';
import { FetchError } from '../errors.js';
import { isFresh } from '../http/cache.js';
import { download } from '../http/download.js';
import type { AppName } from '../image-string.js';
import { readSignatureFile, verifyImageSignature, type Signer } from './verify-signature.js';
import { checkManifest } from './check-manifest.js';
import type { FetchContext } from './context.js';
import { importChecked } from './import-checked.js';
import { verifyDetached } from '../keystore/verify.js';
import { digestVerifier, type DigestVerifier } from '../keystore/digest-verify.js';
import { startStreamedImport, type StreamedImport } from './streamed-import.js';

export interface RemoteTarget {
  readonly aciUrl: URL;
  readonly ascUrl: URL;
  /** A local signature of the image (`--signature`), used instead of `ascUrl`, which is then never asked for. */
  readonly signatureFile?: string;
  /** For a fetch by name: what the manifest must say. Absent for a plain URL. */
  readonly want?: AppName;
  /** For a dependency given by image ID: the ID the download must have. */
  readonly expectId?: string;
  /** No version was asked for: the image becomes the "latest" of its name in the store. */
  readonly latest: boolean;
  /** The image is rendered right after: extract it while it streams in (see the store's `extract`). */
  readonly extract?: boolean;
}

export interface RemoteResult {
  readonly id: string;
  readonly downloaded: boolean;
  readonly signedBy: string | undefined;
  /** With `extract`: the store's early extraction, for `render(id, {extracted})`. */
  readonly extracted?: string;
}

/** The stored image a remote record points at, if that image is still in the store. */
async function cachedId(ctx: FetchContext, url: URL): Promise<{ id: string; etag: string | undefined; fresh: boolean } | undefined> {
  const rec = await ctx.store.getRemote(url.href);
  // Held from here: a 304 below must still find the image it confirms.
  if (rec === undefined || !(await ctx.hold.addIfStored(rec.imageId))) return undefined;
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
  // Where the signature comes from, for its messages and the remote record (whose SigURL held the local path in rkt).
  const signatureSource = t.signatureFile ?? t.ascUrl.href;
  const cached = await cachedId(ctx, t.aciUrl);
  if (cached !== undefined && (ctx.pullPolicy === 'new' || cached.fresh)) {
    return { id: cached.id, downloaded: false, signedBy: undefined };
  }
  // The signature is needed before the image's body is consumed, so that the body is hashed, inflated and
  // imported while it downloads. With a copy in the store it is fetched once the body starts (a 304 needs
  // none); without one, along with the image's request. OpenPGP (~50 ms to load) loads once the signature is
  // in, while the image's request is under way: fetched only once the body started, the signature's request
  // and the library's load held the body back.
  let signature: Buffer | undefined;
  let fetchingSignature: Promise<Buffer | undefined> | undefined;
  const getSignature = (): Promise<Buffer | undefined> => (fetchingSignature ??= (async () => {
    if (ctx.insecure.skipImageCheck) {
      ctx.warn('warning: image signature verification has been disabled (--insecure-options=image)');
    } else {
      const what = t.want?.name ?? t.aciUrl.href;
      signature = t.signatureFile === undefined ? await fetchSignature(ctx, t.ascUrl, what) : await readSignatureFile(t.signatureFile, what);
      import('openpgp').catch(() => undefined);
    }
    return signature;
  })());
  // Awaited (and its error reported) by the download's stream callback or the file path below.
  if (cached === undefined && !ctx.insecure.skipImageCheck) getSignature().catch(() => undefined);
  let streamed: { live: StreamedImport; verifier: DigestVerifier | undefined; signer?: Signer } | undefined;
  const res = await download(ctx.http, t.aciUrl, {
    partialDir: ctx.partialDir,
    ifNoneMatch: cached?.etag,
    progress: ctx.stderr,
    label: 'Downloading ACI',
    maxAttempts: ctx.network.maxAttempts,
    stream: async (info) => {
      const sig = await getSignature();
      const verifier = sig === undefined ? undefined : await digestVerifier(sig, signatureSource);
      // A signature shape the digest path does not cover is verified from the file, as before.
      if (sig !== undefined && verifier === undefined) return undefined;
      const state: { live?: StreamedImport; verifier: DigestVerifier | undefined; signer?: Signer } = { verifier };
      state.live = startStreamedImport(ctx, t.aciUrl.href, verifier, {
        latest: t.latest,
        remote: { url: t.aciUrl.href, signatureUrl: signatureSource, etag: info.etag, cacheMaxAge: info.maxAge },
        hold: ctx.hold,
        extract: t.extract === true,
      }, async ({ manifest, imageId }) => {
        if (verifier !== undefined) {
          const name = t.want?.name ?? manifest.name;
          state.signer = await verifier.verify(await ctx.keystore.keyringFor(name), name);
        }
        if (t.want !== undefined) checkManifest(manifest, t.want, t.aciUrl.href);
        checkExpectedId(t, imageId);
        if (state.signer !== undefined) ctx.signatureVerified(state.signer.userIds);
      });
      streamed = state as { live: StreamedImport; verifier: DigestVerifier | undefined; signer?: Signer };
      return state.live.sink;
    },
  });
  if (res.status === 'not-modified') {
    // Known to exist: cachedId found it and only then was If-None-Match sent.
    const id = (cached as { id: string }).id;
    await ctx.store.putRemote({ url: t.aciUrl.href, imageId: id, signatureUrl: signatureSource, etag: res.etag, cacheMaxAge: res.maxAge });
    return { id, downloaded: false, signedBy: undefined };
  }
  if (streamed !== undefined && !streamed.live.aborted()) {
    const s = streamed;
    // The import has every byte: the part file goes now, on the thread pool beside the import's last steps
    // (freeing a 316 MB file's blocks took the main thread 70 ms). It was written around the page cache, so
    // the store's flush finds none of it to write whether or not it is gone by then.
    const partGone = removeOnPool(res.file);
    try {
      const imported = await s.live.result;
      return { id: imported.id, downloaded: true, signedBy: s.signer?.fingerprint, extracted: imported.extracted };
    } catch (err) {
      // Bytes that are not what was signed explain a broken archive better than the archive's error does.
      if (s.signer === undefined && s.verifier !== undefined && t.want !== undefined && !(err instanceof FetchError && err.code === 'FETCH_SIGNATURE')) {
        await s.verifier.verify(await ctx.keystore.keyringFor(t.want.name), t.want.name);
      }
      throw err;
    } finally {
      await partGone;
    }
  }
  try {
    await getSignature();
    let signer: Signer | undefined;
    // A name is known before reading the archive: its signature is checked while the store scans the
    // archive, and nothing is stored unless it matched, so a tampered download is reported as such. For a
    // plain URL the signer's prefix is the manifest's name, known only from the scan.
    const verifying = signature !== undefined && t.want !== undefined
      ? verifyImageSignature(ctx, res.file, signature, signatureSource, t.want.name)
      : undefined;
    verifying?.catch(() => undefined); // awaited below either way; not an unhandled rejection meanwhile
    // For a URL the name comes with the manifest, at the end of the scan; hashing the signed bytes does not
    // need it, so that starts now with any key trusted for some name, and counts only if that key turns out
    // to be trusted for the manifest's name (otherwise the check below verifies, and reports, as before).
    const speculative = signature !== undefined && t.want === undefined ? speculativeVerify(ctx, res.file, signature, signatureSource) : undefined;
    speculative?.catch(() => undefined);
    let imported;
    try {
      imported = await importChecked(ctx, res.file, t.aciUrl.href, {
        latest: t.latest,
        remote: { url: t.aciUrl.href, signatureUrl: signatureSource, etag: res.etag, cacheMaxAge: res.maxAge },
        hold: ctx.hold,
      }, async ({ manifest, imageId }) => {
        if (verifying !== undefined) signer = await verifying;
        if (t.want !== undefined) checkManifest(manifest, t.want, t.aciUrl.href);
        if (signature !== undefined && t.want === undefined) {
          const early = await speculative?.catch(() => undefined);
          const ring = early === undefined ? [] : await ctx.keystore.keyringFor(manifest.name);
          signer = early !== undefined && ring.some((k) => k.fingerprint === early.fingerprint)
            ? early
            : await verifyImageSignature(ctx, res.file, signature, signatureSource, manifest.name);
        }
        checkExpectedId(t, imageId);
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

/** unlink(2) of `file` on the thread pool; a file already gone is not an error, and neither is any other failure (it is a cache). */
function removeOnPool(file: string): Promise<void> {
  return new Promise((resolve) => unlink(file, () => resolve()));
}

function checkExpectedId(t: RemoteTarget, imageId: string): void {
  if (t.expectId !== undefined && imageId !== t.expectId) {
    throw new FetchError('FETCH_MISMATCH', `${t.aciUrl.href}: image ID ${imageId} differs from the required ${t.expectId}`, { subject: t.aciUrl.href });
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
