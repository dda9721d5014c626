import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Key, Signature } from 'openpgp';
import { FetchError, firstLine } from '../errors.js';
import type { TrustedKey } from './keystore.js';

export interface VerifiedSigner {
  readonly fingerprint: string;
  readonly userIds: readonly string[];
}

export async function readSignature(data: Buffer, source: string): Promise<Signature> {
  const openpgp = await import('openpgp');
  try {
    const text = data.toString('utf8');
    // rkt accepted armored signatures and, failing that, binary ones.
    return text.includes('-----BEGIN PGP SIGNATURE-----')
      ? await openpgp.readSignature({ armoredSignature: text })
      : await openpgp.readSignature({ binarySignature: new Uint8Array(data) });
  } catch (err) {
    throw new FetchError('FETCH_SIGNATURE', `${source}: not an OpenPGP signature: ${firstLine(err)}`, { subject: source, cause: err });
  }
}

function keyIdsOf(key: Key): string[] {
  return key.getKeyIDs().map((id) => id.toHex().toLowerCase());
}

/** The trusted key that made `signature`, or FETCH_SIGNATURE naming the signing key when none of `keyring` did. */
export function trustedSigner(signature: Signature, keyring: readonly TrustedKey[], name: string): TrustedKey {
  const signingIds = signature.getSigningKeyIDs().map((id) => id.toHex().toLowerCase());
  const trusted = keyring.find((k) => keyIdsOf(k.key).some((id) => signingIds.includes(id)));
  if (trusted === undefined) {
    throw new FetchError('FETCH_SIGNATURE',
      `image ${JSON.stringify(name)} verification failed: signed by key ${signingIds.join(', ') || '(unknown)'}, which is not trusted for "${name}" (add it with "rkt trust --prefix ${name}")`,
      { subject: name });
  }
  return trusted;
}

/**
 * Checks a detached signature of `file` against the keys trusted for `name`. The file is streamed, so
 * an image of any size is verified with flat memory. Fails with FETCH_SIGNATURE naming the signing key
 * when it is not trusted for the name, and saying the contents changed when the digest does not match.
 */
export async function verifyDetached(opts: {
  file: string;
  signature: Buffer;
  signatureSource: string;
  keyring: readonly TrustedKey[];
  name: string;
}): Promise<VerifiedSigner> {
  const openpgp = await import('openpgp');
  const signature = await readSignature(opts.signature, opts.signatureSource);
  const trusted = trustedSigner(signature, opts.keyring, opts.name);
  const stream = Readable.toWeb(createReadStream(opts.file)) as unknown as WebReadableStream<Uint8Array>;
  const message = await openpgp.createMessage({ binary: stream as unknown as ReadableStream<Uint8Array> });
  try {
    const result = await openpgp.verify({ message, signature, verificationKeys: [trusted.key], format: 'binary' });
    // The data stream must be drained before the streamed signature's verdict is known.
    const reader = (result.data as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    const sig = result.signatures[0];
    if (sig === undefined) throw new Error('no signature in the signature file');
    await sig.verified;
  } catch (err) {
    throw new FetchError('FETCH_SIGNATURE',
      `image ${JSON.stringify(opts.name)} verification failed: the signature by ${trusted.fingerprint} does not match the image (${firstLine(err)})`,
      { subject: opts.name, cause: err });
  }
  return { fingerprint: trusted.fingerprint, userIds: trusted.key.getUserIDs() };
}
