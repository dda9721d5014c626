import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// The CLI from its source: the command under test is new, and a package import may resolve to a stale dist.
import { runCli } from '../../stage0-cli/src/index.js';
import { FetchError, formatFingerprint, Keystore, trustKeys } from '../src/index.js';
import { discoveryPage, loopback, makeDirs, makeKey, makeTestCa, TestServer, type TestCa, type TestKey } from './helpers.js';

let ca: TestCa;
let caDirs: Awaited<ReturnType<typeof makeDirs>>;
let server: TestServer;
let key: TestKey;
let other: TestKey;

beforeAll(async () => {
  caDirs = await makeDirs();
  ca = await makeTestCa(caDirs.root);
  server = new TestServer();
  await server.start(ca);
  [key, other] = await Promise.all([makeKey('Vendor'), makeKey('Other')]);
});

afterAll(async () => {
  await server?.stop();
  await caDirs?.cleanup();
});

let dirs: Awaited<ReturnType<typeof makeDirs>>;

beforeEach(async () => {
  server.resources.clear();
  server.log.length = 0;
  dirs = await makeDirs();
});

afterEach(async () => {
  await dirs.cleanup();
});

const common = () => ({
  localConfigDir: dirs.local, systemConfigDir: dirs.system,
  network: { lookup: loopback, discoveryPort: server.port, ca: [ca.caPem] },
});

describe('trustKeys', () => {
  it('discovers the prefix keys through ac-discovery-pubkeys and stores them after review', async () => {
    const base = `https://example.com:${server.port}`;
    server.resources.set('/app?ac-discovery=1', { body: discoveryPage('example.com/app', [], [`${base}/keys/vendor.asc`]) });
    server.resources.set('/keys/vendor.asc', { body: Buffer.from(key.publicArmored) });
    const reviews: string[] = [];
    const r = await trustKeys({ ...common(), prefix: 'example.com/app', locations: [], confirm: async (text) => { reviews.push(text); return true; } });
    const dest = join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com', 'app', key.fingerprint);
    expect(r).toEqual([{ location: `${base}/keys/vendor.asc`, fingerprint: key.fingerprint, path: dest }]);
    expect(reviews[0]).toContain(`GPG key fingerprint is: ${formatFingerprint(key.fingerprint)}`);
    expect(reviews[0]).toContain('Vendor <vendor@example.com>');
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    expect((await ks.keyringFor('example.com/app/sub')).map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    expect(await ks.keyringFor('example.com/other')).toEqual([]);
  });

  it('a key over plain http needs --insecure-options=pubkey (or http), says so, and still gets a review', async () => {
    const { createServer } = await import('node:http');
    const plain = createServer((_req, res) => res.end(key.publicArmored));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(plain.address() as { port: number }).port}/key.asc`;
      await expect(trustKeys({ ...common(), prefix: 'example.com', locations: [url], confirm: async () => true }))
        .rejects.toMatchObject({ code: 'FETCH_INSECURE' });
      const warnings: string[] = [];
      let reviewed = 0;
      const r = await trustKeys({
        ...common(), prefix: 'example.com', locations: [url], insecure: { considerInsecurePubKeys: true }, trustKeysFromHttps: true,
        confirm: async () => { reviewed++; return true; }, warn: (m) => warnings.push(m),
      });
      expect(r[0]?.fingerprint).toBe(key.fingerprint);
      expect(reviewed).toBe(1); // --trust-keys-from-https does not cover a key that came over http
      expect(warnings.join('\n')).toMatch(/fetching a key over plain http \(--insecure-options=pubkey\)/);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it('a declined review stores nothing', async () => {
    const file = join(dirs.root, 'k.asc');
    await writeFile(file, key.publicArmored);
    const r = await trustKeys({ ...common(), prefix: 'example.com', locations: [file], confirm: async () => false });
    expect(r[0]?.path).toBeUndefined();
    await expect(readdir(join(dirs.local, 'trustedkeys'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses bad combinations and bad key material with one line', async () => {
    await expect(trustKeys({ ...common(), locations: [] })).rejects.toThrow(/--prefix required/);
    await expect(trustKeys({ ...common(), root: true, locations: [] })).rejects.toThrow(/--root requires a key/);
    await expect(trustKeys({ ...common(), root: true, prefix: 'a.com', locations: ['x'] })).rejects.toThrow(/mutually exclusive/);
    const file = join(dirs.root, 'junk.asc');
    await writeFile(file, 'not a key\n');
    const err = await trustKeys({ ...common(), root: true, locations: [file], skipFingerprintReview: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).message).toMatch(/junk\.asc: not an OpenPGP public key/);
    server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`https://example.com/{name}.{ext}`]) });
    await expect(trustKeys({ ...common(), prefix: 'example.com/x', locations: [] })).rejects.toThrow(/discovery of public keys for example.com\/x failed/);
  });

  it('a key file whose name is not its fingerprint is refused when loading the keyring', async () => {
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    const path = await ks.store(key.publicArmored, undefined);
    await writeFile(join(dirs.local, 'trustedkeys', 'root.d', other.fingerprint), await readFile(path));
    await expect(ks.keyringFor('example.com/app')).rejects.toThrow(new RegExp(`${other.fingerprint}: fingerprint mismatch`));
  });

  it('the temps of a store killed part way, torn keys among the keys, are passed over, and the next store removes them, those of an earlier build too', async () => {
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    await ks.store(key.publicArmored, undefined);
    const rootD = join(dirs.local, 'trustedkeys', 'root.d');
    const half = key.publicArmored.slice(0, key.publicArmored.length >> 1);
    // This build's temp name and an earlier build's, each left by a writer that is gone (no pid reaches 4194305).
    const temp = `.${other.fingerprint}.4194305.1.0123456789ab.tmp`;
    const older = `${other.fingerprint}.tmp-4194305-0123abcd`;
    await writeFile(join(rootD, temp), half);
    await writeFile(join(rootD, older), half);
    expect((await ks.keyringFor('example.com/app')).map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    expect((await ks.anyTrustedKeys()).map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    // A live writer's (this process's) of the earlier name is its own to finish.
    const olderLive = `${other.fingerprint}.tmp-${process.pid}-4567cdef`;
    await writeFile(join(rootD, olderLive), half);
    await ks.store(other.publicArmored, undefined);
    expect((await readdir(rootD)).sort()).toEqual([key.fingerprint, olderLive, other.fingerprint].sort());
    expect((await ks.keyringFor('example.com/app')).map((k) => k.fingerprint).sort()).toEqual([key.fingerprint, other.fingerprint].sort());
  });
});

describe('revoked and expired keys', () => {
  const day = 86_400_000;

  /** `key` as it is published once revoked: the revocation signature travels with the public key. */
  async function revokedCopy(k: TestKey): Promise<string> {
    return (await openpgp.revokeKey({ key: k.privateKey, format: 'armored' })).publicKey;
  }

  /** A key made three days ago whose self-signature says it expired after one day; and that expiry date. */
  async function expiredKey(): Promise<{ armored: string; fingerprint: string; expired: Date }> {
    // Whole seconds: OpenPGP's timestamps have no more.
    const made = new Date(Math.floor((Date.now() - 3 * day) / 1000) * 1000);
    const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Old' }], date: made, format: 'object' });
    const { publicKey } = await openpgp.reformatKey({ privateKey, userIDs: [{ name: 'Old' }], keyExpirationTime: 86_400, date: made, format: 'armored' });
    return { armored: publicKey, fingerprint: privateKey.getFingerprint().toLowerCase(), expired: new Date(made.getTime() + day) };
  }

  it('a revoked or expired key not trusted yet is refused before review: one line naming it, nothing written', async () => {
    const revoked = join(dirs.root, 'revoked.asc');
    await writeFile(revoked, await revokedCopy(key));
    let reviewed = 0;
    const confirm = async () => { reviewed++; return true; };
    const err = await trustKeys({ ...common(), prefix: 'example.com/app', locations: [revoked], confirm }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'FETCH_KEY' });
    expect((err as Error).message).toMatch(new RegExp(`^${revoked}: key ${key.fingerprint} has been revoked \\(on \\d{4}-\\d\\d-\\d\\dT[^)]*\\): not trusting it for prefix "example.com/app"$`));
    const old = await expiredKey();
    const expired = join(dirs.root, 'expired.asc');
    await writeFile(expired, old.armored);
    // A good key listed first is not written either: every key is checked before any is stored.
    const good = join(dirs.root, 'good.asc');
    await writeFile(good, other.publicArmored);
    await expect(trustKeys({ ...common(), root: true, locations: [good, expired], confirm })).rejects
      .toThrow(`${expired}: key ${old.fingerprint} has expired (on ${old.expired.toISOString()}): not trusting it for every image (root key)`);
    expect(reviewed).toBe(0);
    // Trusted only for another prefix is not trusted here.
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    await ks.store(key.publicArmored, 'example.com/other');
    await expect(trustKeys({ ...common(), prefix: 'example.com/app', locations: [revoked], skipFingerprintReview: true })).rejects.toThrow(/has been revoked/);
    expect(await readdir(join(dirs.local, 'trustedkeys'))).toEqual(['prefix.d']);
    expect(await readdir(join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com'))).toEqual(['other']);
    // Through the CLI: the error line alone (no review text either), 254.
    let out = '';
    let stderr = '';
    const code = await runCli([`--local-config=${dirs.local}`, `--system-config=${dirs.system}`, 'trust', '--prefix=example.com/app', '--skip-fingerprint-review', revoked],
      { stdout: { write: (m: string) => { out += m; } }, stderr: { write: (m: string) => { stderr += m; } }, cwd: dirs.root });
    expect({ code, out }).toEqual({ code: 254, out: '' });
    expect(stderr).toMatch(new RegExp(`^trust: ${revoked}: key ${key.fingerprint} has been revoked \\(on [^)]+\\): not trusting it for prefix "example.com/app"\\n$`));
    expect(await readdir(join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com'))).toEqual(['other']);
  });

  it('a revoked copy of a key trusted at that location replaces it, says so, and later verification sees the revocation', async () => {
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    const dest = await ks.store(key.publicArmored, 'example.com/app');
    const file = join(dirs.root, 'revoked.asc');
    await writeFile(file, await revokedCopy(key));
    let out = '';
    let err = '';
    const code = await runCli([`--local-config=${dirs.local}`, `--system-config=${dirs.system}`, 'trust', '--prefix=example.com/app', '--skip-fingerprint-review', file],
      { stdout: { write: (m: string) => { out += m; } }, stderr: { write: (m: string) => { err += m; } }, cwd: dirs.root });
    expect(code).toBe(0);
    expect(out).toBe(`Added key for prefix "example.com/app" at "${dest}"\n`);
    expect(err.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^warning: the stored key ${key.fingerprint} for prefix "example.com/app" is now revoked \\(on [^)]+\\): images signed by it will be refused$`));
    const [stored] = await ks.keyringFor('example.com/app');
    expect(stored?.fingerprint).toBe(key.fingerprint);
    expect(await stored?.key.isRevoked()).toBe(true);
    // A root key from the system config dir is trusted at root.d: a local revoked copy overrides it.
    const vendor = join(dirs.system, 'trustedkeys', 'root.d', other.fingerprint);
    await mkdir(join(dirs.system, 'trustedkeys', 'root.d'), { recursive: true });
    await writeFile(vendor, other.publicArmored);
    await writeFile(file, await revokedCopy(other));
    const warnings: string[] = [];
    const r = await trustKeys({ ...common(), root: true, locations: [file], skipFingerprintReview: true, warn: (m) => warnings.push(m) });
    expect(r[0]?.path).toBe(join(dirs.local, 'trustedkeys', 'root.d', other.fingerprint));
    expect(warnings.at(-1)).toMatch(/^warning: the stored key [0-9a-f]{40} for every image \(root key\) is now revoked/);
    expect(await (await ks.keyringFor('example.com/x')).find((k) => k.fingerprint === other.fingerprint)?.key.isRevoked()).toBe(true);
    // An expired copy of a key trusted there: taken too, saying what it means.
    const old = await expiredKey();
    await writeFile(join(dirs.local, 'trustedkeys', 'root.d', old.fingerprint), old.armored);
    await writeFile(file, old.armored);
    await trustKeys({ ...common(), root: true, locations: [file], skipFingerprintReview: true, warn: (m) => warnings.push(m) });
    expect(warnings.at(-1)).toBe(`warning: the stored key ${old.fingerprint} for every image (root key) has expired (on ${old.expired.toISOString()}): images it signed after that will be refused`);
  });
});

describe('rkt trust', () => {
  async function rkt(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(args, { stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } }, cwd: dirs.root });
    return { code, out, err };
  }

  it('adds a prefix key from a file and a root key, printing where', async () => {
    await writeFile(join(dirs.root, 'vendor.asc'), key.publicArmored);
    await writeFile(join(dirs.root, 'other.asc'), other.publicArmored);
    const cfg = [`--local-config=${dirs.local}`, `--system-config=${dirs.system}`];
    const a = await rkt([...cfg, 'trust', '--prefix=example.com/app', '--skip-fingerprint-review', 'vendor.asc']);
    expect(a.code).toBe(0);
    const dest = join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com', 'app', key.fingerprint);
    expect(a.out).toBe(`Added key for prefix "example.com/app" at "${dest}"\n`);
    expect(a.err).toContain('without fingerprint review');
    expect(await readFile(dest, 'utf8')).toBe(key.publicArmored.endsWith('\n') ? key.publicArmored : `${key.publicArmored}\n`);
    const b = await rkt([...cfg, 'trust', '--root', '--skip-fingerprint-review', 'other.asc']);
    expect(b.out).toBe(`Added root key at "${join(dirs.local, 'trustedkeys', 'root.d', other.fingerprint)}"\n`);
  });

  it('refuses an invalid prefix before fetching or showing the key: one line, 254, no review, nothing stored', async () => {
    await writeFile(join(dirs.root, 'vendor.asc'), key.publicArmored);
    server.resources.set('/key.asc', { body: Buffer.from(key.publicArmored) });
    const url = `https://example.com:${server.port}/key.asc`;
    let reviewed = false;
    const err = await trustKeys({ ...common(), prefix: '../../etc', locations: [url], confirm: async () => { reviewed = true; return true; } }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'FETCH_KEY', message: 'prefix "../../etc" is not a valid AC Identifier' });
    expect(reviewed).toBe(false);
    expect(server.log).toEqual([]);
    // The CLI shows the review on stdout (and on stderr when it is skipped): nothing but the error line.
    const r = await rkt([`--local-config=${dirs.local}`, 'trust', '--prefix=../../etc', '--skip-fingerprint-review', 'vendor.asc']);
    expect(r).toEqual({ code: 254, out: '', err: 'trust: prefix "../../etc" is not a valid AC Identifier\n' });
    await expect(readdir(join(dirs.local, 'trustedkeys'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails with one line and 254 on a missing key file', async () => {
    const r = await rkt([`--local-config=${dirs.local}`, 'trust', '--prefix=example.com', '--skip-fingerprint-review', 'missing.asc']);
    expect(r.code).toBe(254);
    expect(r.err).toBe('trust: missing.asc: no such file or directory\n');
  });

  it('names a directory given as the key file, and a config directory that cannot be made, in one line', async () => {
    await mkdir(join(dirs.root, 'L1'));
    const dir = await rkt([`--local-config=${dirs.local}`, 'trust', '--prefix=example.com/bb', '--skip-fingerprint-review', 'L1']);
    expect(dir).toMatchObject({ code: 254, err: 'trust: L1: is a directory\n' });
    await writeFile(join(dirs.root, 'vendor.asc'), key.publicArmored);
    // Node's recursive mkdir looped forever on /proc/<x>/...
    const proc = await rkt(['--local-config=/proc/rkt-trust-test', 'trust', '--prefix=example.com/bb', '--skip-fingerprint-review', 'vendor.asc']);
    expect(proc.code).toBe(254);
    // The review text comes first (--skip-fingerprint-review still shows the key); the error is the last line.
    expect(proc.err).toMatch(/without fingerprint review\.\ntrust: \/proc\/rkt-trust-test\/trustedkeys\/prefix\.d\/example\.com\/bb: cannot create the directory: \/proc accepts no new directories\n$/);
  });
});
