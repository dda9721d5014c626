import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Key, KeyID, Signature, Subkey } from 'openpgp';
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
 * The FETCH_SIGNATURE error for a signature that did not verify: a revoked or expired signing key is said to be
 * so (the image may well be intact, and the fix is a new key, not a new download); anything else is a signature
 * that does not match the image.
 */
export async function signatureRefusal(trusted: TrustedKey, signingKeyId: KeyID | undefined, created: Date | null | undefined, name: string, err: unknown): Promise<FetchError> {
  const problem = await keyProblem(trusted.key, signingKeyId, created ?? new Date()).catch(() => undefined);
  const what = problem ?? `the signature by ${trusted.fingerprint} does not match the image (${firstLine(err)})`;
  return new FetchError('FETCH_SIGNATURE', `image ${JSON.stringify(name)} verification failed: ${what}`, { subject: name, cause: err });
}

/**
 * Why `key` (or its subkey `keyId`) cannot vouch for a signature made at `at`: revoked (whenever that was, as
 * openpgp counts it), or expired by then. Undefined when the key was valid, so the signature itself is wrong.
 */
async function keyProblem(key: Key, keyId: KeyID | undefined, at: Date): Promise<string | undefined> {
  const fpr = key.getFingerprint().toLowerCase();
  if (await key.isRevoked(undefined, undefined, at)) return `the signing key ${fpr} has been revoked (trust a current key for the prefix with "rkt trust")`;
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() <= at.getTime()) {
    return `the signing key ${fpr} had expired (on ${expires.toISOString()}) when the signature was made on ${at.toISOString()}`;
  }
  const sub = keyId === undefined ? undefined : key.getKeys(keyId)[0];
  if (sub === undefined || sub === key) return undefined;
  // A subkey's own state is only published through its verify(), in these words.
  const reason = await (sub as Subkey).verify(at).then(() => undefined, (e: unknown) => firstLine(e));
  const subId = sub.getKeyID().toHex();
  if (reason !== undefined && /revoked/i.test(reason)) return `the signing subkey ${subId} of ${fpr} has been revoked (trust a current key for the prefix with "rkt trust")`;
  if (reason !== undefined && /expired/i.test(reason)) return `the signing subkey ${subId} of ${fpr} had expired when the signature was made on ${at.toISOString()}`;
  return undefined;
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
  // The verifier a download streams through, so that a file is judged as a download is: openpgp's own
  // verification knows one of the two text forms a text signature may be over (see text-canonical.ts).
  // Imported when needed: it imports this module.
  const { digestVerifier } = await import('./digest-verify.js');
  const verifier = await digestVerifier(opts.signature, opts.signatureSource);
  if (verifier !== undefined) {
    trustedSigner(await readSignature(opts.signature, opts.signatureSource), opts.keyring, opts.name);
    for await (const chunk of createReadStream(opts.file, { highWaterMark: 1 << 20 })) verifier.update(chunk as Buffer);
    return verifier.verify(opts.keyring, opts.name);
  }
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
    const packet = signature.packets[0];
    throw await signatureRefusal(trusted, packet?.issuerKeyID, packet?.created, opts.name, err);
  }
  return { fingerprint: trusted.fingerprint, userIds: trusted.key.getUserIDs() };
}
