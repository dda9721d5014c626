import { verifyDetached } from '../keystore/verify.js';
import type { FetchContext } from './context.js';

export interface Signer {
  readonly fingerprint: string;
  readonly userIds: readonly string[];
}

/**
 * Verifies against the keys trusted for `name`. The caller says who signed (`ctx.signatureVerified`) only
 * once every other check passed too, so a refused image is reported in one line.
 */
export async function verifyImageSignature(ctx: FetchContext, file: string, signature: Buffer, signatureSource: string, name: string): Promise<Signer> {
  return verifyDetached({ file, signature, signatureSource, keyring: await ctx.keystore.keyringFor(name), name });
}
