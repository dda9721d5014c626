import { readSignatureFile, verifyImageSignature } from './verify-signature.js';
import type { FetchContext } from './context.js';
import type { RemoteResult } from './fetch-remote.js';
import { importChecked } from './import-checked.js';

/**
 * A local ACI (a path or file:// URL). As rkt did, its signature is `<file>.asc` beside it, or the file the
 * caller names (`ascPath`: rkt run's `--signature`), checked against the keys trusted for the manifest's
 * name; local files are imported whatever the pull policy.
 */
export async function fetchFile(ctx: FetchContext, path: string, ascPath = `${path}.asc`): Promise<RemoteResult> {
  let signature: Buffer | undefined;
  if (ctx.insecure.skipImageCheck) {
    ctx.warn('warning: image signature verification has been disabled (--insecure-options=image)');
  } else {
    signature = await readSignatureFile(ascPath, path);
  }
  let signedBy: string | undefined;
  // The signer's prefix is the manifest's name: checked once the store's scan has read it, before it stores anything.
  const imported = await importChecked(ctx, path, path, { hold: ctx.hold }, async ({ manifest }) => {
    if (signature === undefined) return;
    const signer = await verifyImageSignature(ctx, path, signature, ascPath, manifest.name);
    ctx.signatureVerified(signer.userIds);
    signedBy = signer.fingerprint;
  });
  return { id: imported.id, downloaded: false, signedBy };
}
