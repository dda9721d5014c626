import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FetchError } from '../src/errors.js';
import { digestVerifier } from '../src/keystore/digest-verify.js';
import type { TrustedKey } from '../src/keystore/keystore.js';
import { gpgSignText, hasGpg, makeKey, signText, type TestKey } from './helpers.js';

// The signature of a download is checked over a digest made while it streams (node:crypto), with openpgp
// doing the public-key part. These check that verdict against openpgp's own, for the key types users have.

type KeyOpts = Parameters<typeof openpgp.generateKey>[0];

async function keyOf(opts: Omit<KeyOpts, 'userIDs' | 'format'>): Promise<{ priv: openpgp.PrivateKey; trusted: TrustedKey }> {
  const { privateKey } = await openpgp.generateKey({ ...opts, userIDs: [{ name: 'Signer', email: 'signer@example.com' }], format: 'object' } as KeyOpts & { format: 'object' });
  const pub = privateKey.toPublic();
  return { priv: privateKey, trusted: { key: pub, fingerprint: pub.getFingerprint().toLowerCase() } as TrustedKey };
}

async function signBytes(priv: openpgp.PrivateKey, data: Uint8Array, opts: { text?: boolean; armor?: boolean } = {}): Promise<Buffer> {
  const message = opts.text === true ? await openpgp.createMessage({ text: Buffer.from(data).toString('latin1') }) : await openpgp.createMessage({ binary: data });
  const sig = opts.armor === false
    ? await openpgp.sign({ message, signingKeys: priv, detached: true, format: 'binary' })
    : await openpgp.sign({ message, signingKeys: priv, detached: true, format: 'armored' });
  return Buffer.from(sig as string | Uint8Array);
}

/** Feeds `data` in uneven chunks, as a download does. */
function feed(v: { update(c: Uint8Array): void }, data: Buffer): void {
  for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7 + 13) % 70000 + 1) v.update(data.subarray(off, off + n));
}

const KEYS: [string, Omit<KeyOpts, 'userIDs' | 'format'>][] = [
  ['ed25519 (legacy EdDSA, gpg\'s default)', { type: 'ecc', curve: 'ed25519Legacy' }],
  ['RSA 2048', { type: 'rsa', rsaBits: 2048 }],
  ['ECDSA P-256', { type: 'ecc', curve: 'nistP256' }],
  ['v6 Ed25519 (salted)', { type: 'curve25519', config: { v6Keys: true } } as Omit<KeyOpts, 'userIDs' | 'format'>],
];

describe('digestVerifier', () => {
  const data = randomBytes(300_000);

  for (const [label, opts] of KEYS) {
    it(`accepts a good signature and refuses one changed byte: ${label}`, async () => {
      const { priv, trusted } = await keyOf(opts);
      const sig = await signBytes(priv, data);
      const good = await digestVerifier(sig, 'x.aci.asc');
      expect(good).toBeDefined();
      feed(good!, data);
      await expect(good!.verify([trusted], 'example.com/app')).resolves.toMatchObject({ fingerprint: trusted.fingerprint });

      const bad = await digestVerifier(sig, 'x.aci.asc');
      const tampered = Buffer.from(data);
      tampered.writeUInt8(tampered.readUInt8(12345) ^ 1, 12345);
      feed(bad!, tampered);
      const err = await bad!.verify([trusted], 'example.com/app').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FetchError);
      expect((err as FetchError).code).toBe('FETCH_SIGNATURE');
      expect((err as FetchError).message).toContain(`the signature by ${trusted.fingerprint} does not match the image`);
    }, 30_000);
  }

  it('refuses a binary signature over other data, and names an untrusted signer', async () => {
    const { priv, trusted } = await keyOf({ type: 'ecc', curve: 'ed25519Legacy' });
    const other = await keyOf({ type: 'ecc', curve: 'ed25519Legacy' });
    const sig = await signBytes(priv, data, { armor: false });

    const v = await digestVerifier(sig, 'x.aci.asc');
    feed(v!, data.subarray(1));
    await expect(v!.verify([trusted], 'example.com/app')).rejects.toThrow(/does not match the image/);

    const untrusted = await digestVerifier(sig, 'x.aci.asc');
    feed(untrusted!, data);
    await expect(untrusted!.verify([other.trusted], 'example.com/app')).rejects.toThrow(/which is not trusted for "example.com\/app"/);
  });

  it('refuses what is not a signature', async () => {
    await expect(digestVerifier(Buffer.from('not a signature'), 'x.asc')).rejects.toThrow(/x\.asc: not an OpenPGP signature/);
  });

  it('is not fooled by the signed data with the signature trailer appended', async () => {
    // The digest covers the data, then the signature's hashed part and trailer: feeding them as data must fail.
    const { priv, trusted } = await keyOf({ type: 'ecc', curve: 'ed25519Legacy' });
    const sig = await signBytes(priv, data);
    const v = await digestVerifier(sig, 'x.aci.asc');
    feed(v!, Buffer.concat([data, Buffer.from([4, 0xff, 0, 0, 0, 0])]));
    await expect(v!.verify([trusted], 'example.com/app')).rejects.toThrow(/does not match the image/);
  });
});

describe('text signatures (type 0x01), in either canonical form', () => {
  // Line ends of every kind, and NUL and CR bytes before LF and at the end: where the two forms differ.
  const data = Buffer.concat([Buffer.from('a\nb\r\nc\r\r\nd\re\n\0f\0\n'), randomBytes(200_000), Buffer.from('g\r\0\0')]);
  const signer = makeKey('Text Signer');
  const trustedOf = (k: TestKey): TrustedKey => ({ key: k.privateKey.toPublic(), fingerprint: k.fingerprint, file: '' });

  async function verdict(sig: Buffer, bytes: Buffer): Promise<string> {
    const v = await digestVerifier(sig, 'x.aci.asc');
    if (v === undefined) return 'not covered';
    feed(v, bytes);
    return v.verify([trustedOf(await signer)], 'example.com/app').then(() => 'verified', (e: unknown) => (e as Error).message);
  }

  it('one made by openpgp (RFC 9580: LF as CRLF) verifies over the bytes as they stream, and a changed byte does not', async () => {
    const sig = await signText(await signer, data);
    expect((await openpgp.readSignature({ armoredSignature: sig.toString() })).packets[0]?.signatureType).toBe(openpgp.enums.signature.text);
    expect(await verdict(sig, data)).toBe('verified');
    const tampered = Buffer.from(data);
    tampered.writeUInt8(tampered.readUInt8(100_000) ^ 1, 100_000);
    expect(await verdict(sig, tampered)).toMatch(/does not match the image/);
    // What a text signature covers is the text: its line ends may change.
    expect(await verdict(sig, Buffer.from(data.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'))).toBe('verified');
  });

  it.skipIf(!hasGpg)('one made by gpg --textmode (GnuPG strips CR and NUL before line ends) verifies, and a changed byte does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rkt-fetcher-gpg-'));
    try {
      const sig = await gpgSignText(await signer, data, dir);
      expect(await verdict(sig, data)).toBe('verified');
      const tampered = Buffer.from(data);
      tampered.writeUInt8(tampered.readUInt8(100_000) ^ 1, 100_000);
      expect(await verdict(sig, tampered)).toMatch(/does not match the image/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
