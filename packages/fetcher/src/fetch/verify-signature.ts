import { verifyDetached } from '../keystore/verify.js';
import type { FetchContext } from './context.js';

/** Verifies against the keys trusted for `name`, then says who signed on stderr, as rkt did. Returns the fingerprint. */
export async function verifyImageSignature(ctx: FetchContext, file: string, signature: Buffer, signatureSource: string, name: string): Promise<string> {
  const signer = await verifyDetached({ file, signature, signatureSource, keyring: await ctx.keystore.keyringFor(name), name });
  ctx.signatureVerified(signer.userIds);
  return signer.fingerprint;
}
