import { readFile } from 'node:fs/promises';
import { FetchError, firstLine } from '../errors.js';
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

/**
 * A signature on disk: a file's `FILE.aci.asc`, or the one the caller gives for any image (`--signature`).
 * Refused in one line naming the image (`what`) when it cannot be read.
 */
export async function readSignatureFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new FetchError('FETCH_SIGNATURE',
      `${what}: error opening signature file: ${firstLine(err)} (an unsigned image is fetched only with --insecure-options=image)`, { subject: what, cause: err });
  }
}
