import { readFile } from 'node:fs/promises';
import { FetchError, firstLine } from '../errors.js';
import { verifyImageSignature } from './verify-signature.js';
import type { FetchContext } from './context.js';
import type { RemoteResult } from './fetch-remote.js';
import { readAci } from './read-manifest.js';

/**
 * A local ACI (a path or file:// URL). As rkt did, its signature is `<file>.asc` beside it, checked
 * against the keys trusted for the manifest's name; local files are imported whatever the pull policy.
 */
export async function fetchFile(ctx: FetchContext, path: string): Promise<RemoteResult> {
  let signedBy: string | undefined;
  if (ctx.insecure.skipImageCheck) {
    ctx.warn('warning: image signature verification has been disabled (--insecure-options=image)');
  } else {
    let signature: Buffer;
    try {
      signature = await readFile(`${path}.asc`);
    } catch (err) {
      throw new FetchError('FETCH_SIGNATURE',
        `${path}: error opening signature file: ${firstLine(err)} (an unsigned image is fetched only with --insecure-options=image)`, { subject: path, cause: err });
    }
    const { manifest } = await readAci(path, path);
    const signer = await verifyImageSignature(ctx, path, signature, `${path}.asc`, manifest.name);
    ctx.signatureVerified(signer.userIds);
    signedBy = signer.fingerprint;
  }
  const imported = await ctx.store.importAci(path, { source: path, hold: ctx.hold });
  return { id: imported.id, downloaded: false, signedBy };
}
