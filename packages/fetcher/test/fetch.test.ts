import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '@rkt/image-store';
import { fetchImage, FetchError, Keystore, type FetchOptions } from '../src/index.js';
import {
  discoveryPage, gpgSignText, hasGpg, HOST_LABELS, loopback, makeAci, makeDirs, makeKey, makeTestCa, sign, signText, TestServer, type TestCa, type TestKey,
} from './helpers.js';

let ca: TestCa;
let caDir: Awaited<ReturnType<typeof makeDirs>>;
let server: TestServer;
let trusted: TestKey;
let stranger: TestKey;

beforeAll(async () => {
  caDir = await makeDirs();
  ca = await makeTestCa(caDir.root);
  server = new TestServer();
  await server.start(ca);
  [trusted, stranger] = await Promise.all([makeKey('Trusted Signer'), makeKey('Stranger')]);
});

afterAll(async () => {
  await server?.stop();
  await caDir?.cleanup();
});

let dirs: Awaited<ReturnType<typeof makeDirs>>;
let store: Store;
let stderr: string[];

beforeEach(async () => {
  server.resources.clear();
  server.log.length = 0;
  dirs = await makeDirs();
  await mkdir(join(dirs.local, 'certs.d'));
  // The test CA reaches rkt-ts the way a private registry's CA would: through certs.d in the local config.
  await writeFile(join(dirs.local, 'certs.d', 'test-ca.pem'), ca.caPem);
  store = await openStore({ dir: dirs.data });
  stderr = [];
});

afterEach(async () => {
  await dirs.cleanup();
});

function options(extra: Partial<FetchOptions> = {}): FetchOptions {
  return {
    store,
    localConfigDir: dirs.local,
    systemConfigDir: dirs.system,
    stderr: { write: (s: string) => stderr.push(s) },
    network: { lookup: loopback, discoveryPort: server.port, maxAttempts: 3 },
    ...extra,
  };
}

const base = () => `https://example.com:${server.port}`;
const aciPath = (name: string, version: string) => `/images/${name}-${version}-linux-amd64.aci`;

/** Serves the discovery page for `example.com` (found by walking up from any name under it). */
function serveDiscovery(): void {
  server.resources.set('/?ac-discovery=1', {
    body: discoveryPage('example.com', [`${base()}/images/{name}-{version}-{os}-{arch}.{ext}`], [`${base()}/pubkeys.gpg`]),
    contentType: 'text/html',
  });
}

async function publish(name: string, version: string, opts: { key?: TestKey | null; files?: Record<string, string>; deps?: unknown[]; etag?: string; cacheControl?: string; labels?: { name: string; value: string }[]; extraBytes?: number } = {}): Promise<Buffer> {
  const aci = await makeAci(dirs.root, {
    name,
    labels: opts.labels ?? [{ name: 'version', value: version }, ...HOST_LABELS],
    ...(opts.deps === undefined ? {} : { dependencies: opts.deps as never }),
  }, opts.files ?? { [`etc/${name.replace(/\W/g, '_')}`]: `${name} ${version}\n` }, opts.extraBytes ?? 0);
  server.resources.set(aciPath(name, version), { body: aci, etag: opts.etag, cacheControl: opts.cacheControl });
  const key = opts.key === undefined ? trusted : opts.key;
  if (key !== null) server.resources.set(`${aciPath(name, version)}.asc`, { body: await sign(key, aci) });
  return aci;
}

async function trust(key: TestKey, prefix: string | undefined): Promise<void> {
  await new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system }).store(key.publicArmored, prefix);
}

async function expectFailure(p: Promise<unknown>, code: string, pattern: RegExp): Promise<FetchError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  expect((err as FetchError).code).toBe(code);
  expect((err as FetchError).message).toMatch(pattern);
  expect((err as FetchError).message).not.toContain('\n');
  return err as FetchError;
}

describe('fetch by name', () => {
  it('discovers, downloads, verifies, stores and renders a signed image', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1.2');
    await trust(trusted, 'example.com/app');
    const r = await fetchImage('example.com/app:v1.2', options());
    expect(r.id).toMatch(/^sha512-[0-9a-f]{128}$/);
    expect(r.downloaded).toBe(true);
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect(stderr.join('')).toBe('signature verified:\n  Trusted Signer <trustedsigner@example.com>\n');
    const imgs = await store.list();
    expect(imgs.map((i) => i.id)).toEqual([r.id]);
    expect(imgs[0]?.name).toBe('example.com/app');
    const remote = await store.getRemote(`${base()}${aciPath('example.com/app', 'v1.2')}`);
    expect(remote?.imageId).toBe(r.id);
    expect(remote?.signatureUrl).toBe(`${base()}${aciPath('example.com/app', 'v1.2')}.asc`);
    // The walk went up from example.com/app to example.com, where the page is.
    expect(server.requests('/app?ac-discovery=1', 404)).toHaveLength(1);
    expect(server.requests('/?ac-discovery=1', 200)).toHaveLength(1);
    const tree = await store.tree(r.treeId ?? '');
    expect(await readFile(join(tree?.rootfs ?? '', 'etc', 'example_com_app'), 'utf8')).toBe('example.com/app v1.2\n');
    // Nothing half-downloaded is left behind.
    expect(await readdir(join(dirs.data, 'tmp', 'fetch'))).toEqual([]);
  });

  it('a version-less name fetches {version}=latest and marks the image latest', async () => {
    serveDiscovery();
    await publish('example.com/app', 'latest', { labels: HOST_LABELS });
    await trust(trusted, 'example.com');
    const r = await fetchImage('example.com/app', options());
    expect((await store.get(r.id))?.latest).toBe(true);
  });

  it('refuses an unsigned image and stores nothing', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { key: null });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /no signature: .*\.aci\.asc: bad HTTP status code: 404.*--insecure-options=image/);
    expect(await store.list()).toEqual([]);
  });

  it('fetches an unsigned image with --insecure-options=image and says so on stderr', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { key: null });
    const r = await fetchImage('example.com/app:v1', options({ insecure: { skipImageCheck: true } }));
    expect(r.signedBy).toBeUndefined();
    expect(stderr.join('')).toMatch(/warning: image signature verification has been disabled \(--insecure-options=image\)/);
    expect(await store.list()).toHaveLength(1);
  });

  it('fetches that share `warned` (one command\'s images) say each warning once: --insecure-options=image and tls', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { key: null });
    await publish('example.com/other', 'v1', { key: null });
    const warned = new Set<string>();
    const insecure = { skipImageCheck: true, skipTlsCheck: true };
    await fetchImage('example.com/app:v1', options({ insecure, warned }));
    await fetchImage('example.com/other:v1', options({ insecure, warned }));
    expect(stderr.join('')).toBe([
      'warning: TLS certificate checks are disabled (--insecure-options=tls)',
      'warning: image signature verification has been disabled (--insecure-options=image)',
    ].map((l) => `${l}\n`).join(''));
    expect(await store.list()).toHaveLength(2);
    // Without it, each fetch says them again.
    stderr.length = 0;
    await fetchImage('example.com/app:v1', options({ insecure }));
    expect(stderr.join('')).toMatch(/TLS certificate checks are disabled/);
  });

  it('refuses a signature by an untrusted key', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { key: stranger });
    await trust(trusted, 'example.com');
    const err = await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /^image "example.com\/app" verification failed: signed by key [0-9a-f]{16}, which is not trusted for "example.com\/app"/);
    expect(err.message).toContain(stranger.fingerprint.slice(-16));
    expect(await store.list()).toEqual([]);
  });

  it('refuses a key trusted only for another prefix', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com/other');
    await trust(trusted, 'example.com/ap'); // a string prefix of the name, but not a path prefix
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /not trusted for "example.com\/app"/);
    expect(await store.list()).toEqual([]);
  });

  it('--trust-keys-from-https trusts the keys discovery publishes when none is trusted yet', async () => {
    serveDiscovery();
    server.resources.set('/pubkeys.gpg', { body: Buffer.from(trusted.publicArmored) });
    await publish('example.com/app', 'v1');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /not trusted/);
    expect(server.requests('/pubkeys.gpg')).toEqual([]);
    const r = await fetchImage('example.com/app:v1', options({ trustKeysFromHttps: true }));
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect(stderr.join('')).toMatch(/fetched from https \(--trust-keys-from-https\)/);
    const stored = await readFile(join(dirs.local, 'trustedkeys', 'prefix.d', 'example.com', 'app', trusted.fingerprint), 'utf8');
    expect(stored).toContain('BEGIN PGP PUBLIC KEY BLOCK');
  });

  it('accepts a root key and honours a local empty file masking a system key', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1');
    const system = new Keystore({ localConfigDir: dirs.system, systemConfigDir: join(dirs.root, 'unused') });
    await system.store(trusted.publicArmored, undefined); // a vendor root key under the system config dir
    const r = await fetchImage('example.com/app:v1', options());
    expect(r.signedBy).toBe(trusted.fingerprint);
    await store.remove(r.id);
    await store.removeRemote(`${base()}${aciPath('example.com/app', 'v1')}`);
    await mkdir(join(dirs.local, 'trustedkeys', 'root.d'), { recursive: true });
    await writeFile(join(dirs.local, 'trustedkeys', 'root.d', trusted.fingerprint), '');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /not trusted/);
  });

  it('refuses a tampered image and stores nothing', async () => {
    serveDiscovery();
    const good = await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com');
    const sig = server.resources.get(`${aciPath('example.com/app', 'v1')}.asc`);
    // Another valid ACI with the same name and labels, served with the original's signature.
    await publish('example.com/app', 'v1', { files: { 'etc/evil': 'evil\n' } });
    server.resources.set(`${aciPath('example.com/app', 'v1')}.asc`, sig as never);
    expect(server.resources.get(aciPath('example.com/app', 'v1'))?.body.equals(good)).toBe(false);
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /signature by [0-9a-f]{40} does not match the image/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses an image signed by a key since revoked or expired, saying so, and stores nothing', async () => {
    serveDiscovery();
    const aci = await publish('example.com/app', 'v1');
    const path = aciPath('example.com/app', 'v1');
    // The signature is good; the key that made it was revoked afterwards, and the revocation is what is trusted.
    const { publicKey: revoked } = await openpgp.revokeKey({ key: trusted.privateKey, format: 'armored' });
    const ks = new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system });
    await ks.store(revoked, 'example.com');
    const revokedLine = new RegExp(`^image "example.com/app" verification failed: the signing key ${trusted.fingerprint} has been revoked`);
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', revokedLine);
    // By URL (the signer known from the manifest) and from a file (checked by openpgp from the file): the same words.
    await expectFailure(fetchImage(`${base()}${path}`, options()), 'FETCH_SIGNATURE', /verification failed: the signing key [0-9a-f]{40} has been revoked/);
    await writeFile(join(dirs.root, 'app.aci'), aci);
    await writeFile(join(dirs.root, 'app.aci.asc'), server.resources.get(`${path}.asc`)!.body);
    await expectFailure(fetchImage(join(dirs.root, 'app.aci'), options()), 'FETCH_SIGNATURE', /verification failed: the signing key [0-9a-f]{40} has been revoked/);
    expect(await store.list()).toEqual([]);

    // A key made three days ago, whose self-signature (remade with the same key material) says it expired after
    // one day, and a signature made yesterday: valid bytes, a key that was no longer valid when it signed.
    const day = 86_400_000;
    const made = new Date(Date.now() - 3 * day);
    const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Old' }], date: made, format: 'object' });
    const signature = await openpgp.sign({ message: await openpgp.createMessage({ binary: aci }), signingKeys: privateKey, detached: true, date: new Date(Date.now() - day), format: 'armored' });
    const { publicKey: expiring } = await openpgp.reformatKey({ privateKey, userIDs: [{ name: 'Old' }], keyExpirationTime: 86_400, date: made, format: 'armored' });
    await rm(join(dirs.local, 'trustedkeys'), { recursive: true });
    await ks.store(expiring, 'example.com');
    server.resources.set(`${path}.asc`, { body: Buffer.from(signature) });
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE',
      new RegExp(`verification failed: the signing key ${privateKey.getFingerprint()} had expired \\(on ${new Date(made.getTime() + day).toISOString().slice(0, 16)}`));
    expect(await store.list()).toEqual([]);
  });

  it('refuses a signed image served with bytes appended after its end (by name and by URL), and stores nothing', async () => {
    // The archive alone reads fine: the signature must cover every byte served, not just the archive's.
    serveDiscovery();
    const good = await publish('example.com/app', 'v1', { extraBytes: 200_000 });
    await trust(trusted, 'example.com');
    const path = aciPath('example.com/app', 'v1');
    const res = server.resources.get(path)!;
    // A second gzip member of zeros: more end-of-archive padding to a reader, more bytes to the signature.
    server.resources.set(path, { ...res, body: Buffer.concat([good, gzipSync(Buffer.alloc(6 << 20))]) });
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_SIGNATURE', /signature by [0-9a-f]{40} does not match the image/);
    await expectFailure(fetchImage(`${base()}${path}`, options()), 'FETCH_SIGNATURE', /signature by [0-9a-f]{40} does not match the image/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses an image whose labels differ from those asked for', async () => {
    serveDiscovery();
    // The server answers the v2 URL with an image that says it is v1.
    const aci = await publish('example.com/app', 'v1');
    server.resources.set(aciPath('example.com/app', 'v2'), { body: aci });
    server.resources.set(`${aciPath('example.com/app', 'v2')}.asc`, { body: await sign(trusted, aci) });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/app:v2', options()), 'FETCH_MISMATCH',
      /requested value for label "version": "v2" differs from fetched aci label value: "v1"/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses an image whose name differs', async () => {
    serveDiscovery();
    const aci = await publish('example.com/other', 'v1');
    server.resources.set(aciPath('example.com/app', 'v1'), { body: aci });
    server.resources.set(`${aciPath('example.com/app', 'v1')}.asc`, { body: await sign(trusted, aci) });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_MISMATCH', /"example.com\/app" expected but "example.com\/other" found/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses an os/arch other than the host default asked for implicitly', async () => {
    serveDiscovery();
    const aci = await publish('example.com/app', 'v1', { labels: [{ name: 'version', value: 'v1' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'aarch64' }] });
    server.resources.set(aciPath('example.com/app', 'v1'), { body: aci });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_MISMATCH', /label "arch": "amd64" differs from fetched aci label value: "aarch64"/);
  });

  it('says which prefixes discovery tried when no page has a template', async () => {
    await expectFailure(fetchImage('example.com/nothing/here:v1', options()), 'FETCH_DISCOVERY',
      /discovery of image endpoints for example.com\/nothing\/here failed \(example.com\/nothing\/here: .*404.*; example.com\/nothing: .*; example.com: .*\)/);
  });

  it('with --insecure-options=http discovery falls back to plain http, and says so', async () => {
    const { createServer } = await import('node:http');
    const aci = await makeAci(dirs.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/h': 'h\n' });
    const sig = await sign(trusted, aci);
    const paths: string[] = [];
    const plain = createServer((req, res) => {
      paths.push(req.url ?? '');
      const port = (plain.address() as { port: number }).port;
      if (req.url === '/app?ac-discovery=1') {
        res.end(discoveryPage('example.com', [`http://example.com:${port}/h/{name}-{version}.{ext}`]));
      } else if (req.url === '/h/example.com/app-v1.aci') res.end(aci);
      else if (req.url === '/h/example.com/app-v1.aci.asc') res.end(sig);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      await trust(trusted, 'example.com');
      const port = (plain.address() as { port: number }).port;
      const net = { lookup: loopback, discoveryPort: port };
      // https to a plain http port fails the handshake; without the option that is the end.
      await expectFailure(fetchImage('example.com/app:v1', options({ network: net })), 'FETCH_DISCOVERY', /example.com\/app: /);
      expect(paths).toEqual([]);
      const r = await fetchImage('example.com/app:v1', options({ network: net, insecure: { allowHttp: true } }));
      expect(r.signedBy).toBe(trusted.fingerprint);
      // The image and its signature are requested together once discovery found them: in either order.
      expect(paths[0]).toBe('/app?ac-discovery=1');
      expect(paths.slice(1).sort()).toEqual(['/h/example.com/app-v1.aci', '/h/example.com/app-v1.aci.asc']);
      expect(stderr.join('')).toMatch(/warning: fetching http:\/\/example.com:\d+\/h\/example.com\/app-v1.aci over plain http \(--insecure-options=http\)/);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it('refuses plain http unless --insecure-options=http', async () => {
    server.resources.set('/?ac-discovery=1', {
      body: discoveryPage('example.com', [`http://example.com:${server.port}/images/{name}-{version}-{os}-{arch}.{ext}`]), contentType: 'text/html',
    });
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_INSECURE', /plain http is not allowed; use https or --insecure-options=http/);
  });
});

describe('text-mode signatures (gpg --textmode)', () => {
  const makers: [string, (k: TestKey, data: Buffer) => Promise<Buffer>][] = [
    ['openpgp (RFC 9580 form)', (k, data) => signText(k, data)],
    ['gpg --textmode (GnuPG form)', (k, data) => gpgSignText(k, data, dirs.root)],
  ];
  for (const [label, signWith] of makers) {
    it.skipIf(label.startsWith('gpg') && !hasGpg)(`an image signed in text mode by ${label} is fetched by name (streamed), by URL and from a file`, async () => {
      serveDiscovery();
      const aci = await publish('example.com/app', 'v1', { extraBytes: 300_000 });
      const path = aciPath('example.com/app', 'v1');
      const signature = await signWith(trusted, aci);
      server.resources.set(`${path}.asc`, { body: signature });
      await trust(trusted, 'example.com');
      const byName = await fetchImage('example.com/app:v1', options());
      expect(byName.signedBy).toBe(trusted.fingerprint);
      expect(stderr.join('')).toContain('signature verified:\n  Trusted Signer <trustedsigner@example.com>\n');
      // Each in a store of its own, so that each downloads and verifies.
      const byUrl = await fetchImage(`${base()}${path}`, options({ store: await openStore({ dir: join(dirs.root, 'by-url') }) }));
      expect(byUrl).toMatchObject({ id: byName.id, signedBy: trusted.fingerprint });
      await writeFile(join(dirs.root, 'app.aci'), aci);
      await writeFile(join(dirs.root, 'app.aci.asc'), signature);
      const byFile = await fetchImage(join(dirs.root, 'app.aci'), options({ store: await openStore({ dir: join(dirs.root, 'by-file') }) }));
      expect(byFile).toMatchObject({ id: byName.id, signedBy: trusted.fingerprint });
      // Still a signature over these bytes: another image with the same signature is refused.
      await publish('example.com/app', 'v1', { files: { 'etc/evil': 'evil\n' } });
      server.resources.set(`${path}.asc`, { body: signature });
      await expectFailure(fetchImage('example.com/app:v1', options({ store: await openStore({ dir: join(dirs.root, 'tampered') }) })), 'FETCH_SIGNATURE', /does not match the image/);
    }, 30_000);
  }
});

describe('TLS', () => {
  it('verifies certificates: without the CA in certs.d the fetch fails; --insecure-options=tls relaxes it and says so', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com');
    const noCa = join(dirs.root, 'etc-no-ca');
    await mkdir(noCa);
    await new Keystore({ localConfigDir: noCa, systemConfigDir: dirs.system }).store(trusted.publicArmored, 'example.com');
    await expectFailure(fetchImage('example.com/app:v1', options({ localConfigDir: noCa })), 'FETCH_DISCOVERY', /certificate/);
    expect(await store.list()).toEqual([]);
    const r = await fetchImage('example.com/app:v1', options({ localConfigDir: noCa, insecure: { skipTlsCheck: true } }));
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect(stderr.join('')).toMatch(/TLS certificate checks are disabled \(--insecure-options=tls\)/);
  });

  it('a CA file in certs.d that holds no certificate is a config error naming it', async () => {
    await writeFile(join(dirs.local, 'certs.d', 'broken.pem'), 'hello\n');
    await expectFailure(fetchImage('example.com/app:v1', options()), 'FETCH_CONFIG', /certs\.d\/broken\.pem: no PEM certificate/);
  });
});

describe('caching', () => {
  it('a second fetch of an unchanged image downloads nothing (ETag, 304)', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { etag: '"v1-etag"' });
    await trust(trusted, 'example.com');
    const first = await fetchImage('example.com/app:v1', options());
    expect(server.requests(aciPath('example.com/app', 'v1'), 200)).toHaveLength(2); // the ACI and its .asc
    const second = await fetchImage('example.com/app:v1', options());
    expect(second.id).toBe(first.id);
    expect(second.downloaded).toBe(false);
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    expect(aciLog.map((e) => e.status)).toEqual([200, 304]);
    expect(aciLog[1]?.ifNoneMatch).toBe('"v1-etag"');
    expect(server.requests(`${aciPath('example.com/app', 'v1')}.asc`)).toHaveLength(1);
  });

  it('within Cache-Control max-age no request is made for the image at all', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { etag: '"e"', cacheControl: 'public, max-age=3600' });
    await trust(trusted, 'example.com');
    await fetchImage('example.com/app:v1', options());
    const before = server.requests('/images/').length;
    const again = await fetchImage('example.com/app:v1', options());
    expect(again.downloaded).toBe(false);
    expect(server.requests('/images/').length).toBe(before);
    expect((await store.getRemote(`${base()}${aciPath('example.com/app', 'v1')}`))?.cacheMaxAge).toBe(3600);
  });

  it('a changed ETag makes exactly one new download', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { etag: '"one"' });
    await trust(trusted, 'example.com');
    const first = await fetchImage('example.com/app:v1', options());
    await publish('example.com/app', 'v1', { etag: '"two"', files: { 'etc/changed': 'yes\n' } });
    const second = await fetchImage('example.com/app:v1', options());
    expect(second.downloaded).toBe(true);
    expect(second.id).not.toBe(first.id);
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    expect(aciLog.map((e) => e.status)).toEqual([200, 200]);
    expect((await store.getRemote(`${base()}${aciPath('example.com/app', 'v1')}`))?.etag).toBe('"two"');
    // The name now resolves to the new image (the newest import of that version).
    expect((await store.resolve('example.com/app:v1')).id).toBe(second.id);
  });

  it('pull policy "new" uses the stored image without any request; "never" refuses a missing one', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/app:v1', options({ pullPolicy: 'never' })), 'FETCH_NOT_FOUND', /not in the store and the pull policy is "never"/);
    expect(server.log).toEqual([]);
    const first = await fetchImage('example.com/app:v1', options({ pullPolicy: 'new' }));
    const n = server.log.length;
    const again = await fetchImage('example.com/app:v1', options({ pullPolicy: 'new' }));
    expect(again.id).toBe(first.id);
    expect(server.log.length).toBe(n);
    expect((await fetchImage('example.com/app:v1', options({ pullPolicy: 'never' }))).id).toBe(first.id);
  });

  it('a download cut off mid-way resumes with Range and stores the right image', async () => {
    serveDiscovery();
    const aci = await publish('example.com/app', 'v1', { etag: '"big"', extraBytes: 1 << 20 });
    expect(aci.length).toBeGreaterThan(1 << 20);
    const res = server.resources.get(aciPath('example.com/app', 'v1'));
    if (res === undefined) throw new Error('not published');
    res.cutOffAfter = 300_000;
    res.cutOffTimes = 1;
    await trust(trusted, 'example.com');
    const r = await fetchImage('example.com/app:v1', options());
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    expect(aciLog.map((e) => e.status)).toEqual([200, 206]);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(aciLog[1]?.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(300_000);
    expect(r.signedBy).toBe(trusted.fingerprint);
  });
});

describe('resume across processes', () => {
  it('a partial download left by a dead process is taken over and completed with Range', async () => {
    serveDiscovery();
    const aci = await publish('example.com/app', 'v1', { etag: '"p1"', extraBytes: 256 << 10 });
    await trust(trusted, 'example.com');
    const url = `${base()}${aciPath('example.com/app', 'v1')}`;
    const { createHash } = await import('node:crypto');
    const { spawnSync } = await import('node:child_process');
    const deadPid = spawnSync('true').pid; // exited and reaped: surely not running
    const key = createHash('sha256').update(url).digest('hex').slice(0, 32);
    const dir = join(dirs.data, 'tmp', 'fetch');
    await mkdir(dir, { recursive: true });
    const part = join(dir, `${key}-${deadPid}-abcd.part`);
    await writeFile(part, aci.subarray(0, 100_000));
    await writeFile(`${part}.json`, JSON.stringify({ url, etag: '"p1"' }));
    const r = await fetchImage('example.com/app:v1', options());
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    expect(aciLog.map((e) => [e.status, e.range])).toEqual([[206, 'bytes=100000-']]);
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a failed download resumes on the next fetch in the same process', async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1', { etag: '"s"', extraBytes: 512 << 10 });
    const res = server.resources.get(aciPath('example.com/app', 'v1'));
    if (res === undefined) throw new Error('not published');
    res.cutOffAfter = 200_000;
    res.cutOffTimes = 1;
    await trust(trusted, 'example.com');
    const once = options({ network: { lookup: loopback, discoveryPort: server.port, maxAttempts: 1 } });
    await expectFailure(fetchImage('example.com/app:v1', once), 'FETCH_HTTP', /download failed after 1 attempts/);
    expect(await store.list()).toEqual([]);
    const r = await fetchImage('example.com/app:v1', options());
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    expect(aciLog.map((e) => e.status)).toEqual([200, 206]);
    expect(r.signedBy).toBe(trusted.fingerprint);
  });

  it("other URLs' leftovers of dead processes are removed after a week, kept before", async () => {
    serveDiscovery();
    await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com');
    const { spawnSync } = await import('node:child_process');
    const { utimes } = await import('node:fs/promises');
    const dir = join(dirs.data, 'tmp', 'fetch');
    await mkdir(dir, { recursive: true });
    const pid = spawnSync('true').pid;
    const old = join(dir, `${'1'.repeat(32)}-${pid}-aa.part`);
    const recent = join(dir, `${'2'.repeat(32)}-${pid}-bb.part`);
    await writeFile(old, 'x');
    await writeFile(`${old}.json`, '{}');
    await writeFile(recent, 'y');
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    await utimes(old, eightDaysAgo, eightDaysAgo);
    await fetchImage('example.com/app:v1', options());
    expect((await readdir(dir)).sort()).toEqual([`${'2'.repeat(32)}-${pid}-bb.part`]);
  });

  it('a partial file whose ETag no longer matches is discarded and the image downloaded whole', async () => {
    serveDiscovery();
    const aci = await publish('example.com/app', 'v1', { etag: '"new"' });
    await trust(trusted, 'example.com');
    const url = `${base()}${aciPath('example.com/app', 'v1')}`;
    const { createHash } = await import('node:crypto');
    const { spawnSync } = await import('node:child_process');
    const key = createHash('sha256').update(url).digest('hex').slice(0, 32);
    const dir = join(dirs.data, 'tmp', 'fetch');
    await mkdir(dir, { recursive: true });
    const part = join(dir, `${key}-${spawnSync('true').pid}-abcd.part`);
    await writeFile(part, Buffer.alloc(Math.min(1000, aci.length - 1), 0x41)); // bytes of an older version
    await writeFile(`${part}.json`, JSON.stringify({ url, etag: '"old"' }));
    await fetchImage('example.com/app:v1', options());
    const aciLog = server.requests(aciPath('example.com/app', 'v1')).filter((e) => !e.path.endsWith('.asc'));
    // If-Range with the old ETag makes the server send the whole new file (200), which replaces the part.
    expect(aciLog.map((e) => e.status)).toEqual([200]);
    expect(await store.list()).toHaveLength(1);
  });
});

describe('other image strings', () => {
  it('fetches an https URL, checking its .asc against the manifest name', async () => {
    await publish('example.com/app', 'v1');
    await trust(trusted, 'example.com/app');
    const r = await fetchImage(`${base()}${aciPath('example.com/app', 'v1')}`, options());
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect(server.requests('/?ac-discovery')).toEqual([]);
  });

  it('a URL signed by a key trusted for another name fails', async () => {
    await publish('example.com/app', 'v1');
    await trust(trusted, 'other.com');
    await expectFailure(fetchImage(`${base()}${aciPath('example.com/app', 'v1')}`, options()), 'FETCH_SIGNATURE', /not trusted for "example.com\/app"/);
  });

  it('fetches a local file with its .asc, and refuses one without', async () => {
    const aci = await publish('example.com/app', 'v1');
    const file = join(dirs.root, 'app.aci');
    await writeFile(file, aci);
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage(file, options()), 'FETCH_SIGNATURE', /app\.aci: error opening signature file/);
    await writeFile(`${file}.asc`, await sign(trusted, aci));
    const r = await fetchImage(`file://${file}`, options());
    expect(r.signedBy).toBe(trusted.fingerprint);
    expect((await fetchImage(r.id.slice(0, 20), options())).id).toBe(r.id);
  });

  it('an unknown image ID is not looked up anywhere', async () => {
    await expectFailure(fetchImage(`sha512-${'ab'.repeat(20)}`, options()), 'FETCH_NOT_FOUND', /no image with this ID in the store/);
    expect(server.log).toEqual([]);
  });
});

describe('a local signature file (signatureFile, rkt\'s --signature) for a remote image', () => {
  /** The image published with no .asc on the server, and its signatures by each key, written aside. */
  async function publishWithSignatures(): Promise<{ good: string; untrusted: string; otherContent: string }> {
    const aci = await publish('example.com/app', 'v1', { key: null });
    const write = async (file: string, body: Buffer) => {
      await writeFile(join(dirs.root, file), body);
      return join(dirs.root, file);
    };
    return {
      good: await write('good.asc', await sign(trusted, aci)),
      untrusted: await write('untrusted.asc', await sign(stranger, aci)),
      otherContent: await write('other.asc', await sign(trusted, Buffer.from('another image'))),
    };
  }

  it('verifies an https URL and a name with it instead of the .asc, which is never asked for', async () => {
    const sigs = await publishWithSignatures();
    await trust(trusted, 'example.com/app');
    serveDiscovery();
    const url = `${base()}${aciPath('example.com/app', 'v1')}`;
    const byUrl = await fetchImage(url, options({ signatureFile: sigs.good }));
    expect(byUrl.signedBy).toBe(trusted.fingerprint);
    expect((await store.getRemote(url))?.signatureUrl).toBe(sigs.good);
    await store.remove(byUrl.id);
    const byName = await fetchImage('example.com/app:v1', options({ signatureFile: sigs.good }));
    expect(byName).toMatchObject({ id: byUrl.id, signedBy: trusted.fingerprint });
    expect(server.requests(`${aciPath('example.com/app', 'v1')}.asc`)).toEqual([]);
  });

  it('refuses one by an untrusted key or over other content, by URL and by name, storing nothing', async () => {
    const sigs = await publishWithSignatures();
    await trust(trusted, 'example.com/app');
    serveDiscovery();
    for (const image of [`${base()}${aciPath('example.com/app', 'v1')}`, 'example.com/app:v1']) {
      await expectFailure(fetchImage(image, options({ signatureFile: sigs.untrusted })), 'FETCH_SIGNATURE', /not trusted for "example.com\/app"/);
      await expectFailure(fetchImage(image, options({ signatureFile: sigs.otherContent })), 'FETCH_SIGNATURE', /does not match the image/);
      await expectFailure(fetchImage(image, options({ signatureFile: join(dirs.root, 'nowhere.asc') })), 'FETCH_SIGNATURE', /error opening signature file/);
    }
    expect(await store.list()).toEqual([]);
    expect(server.requests(`${aciPath('example.com/app', 'v1')}.asc`)).toEqual([]);
  });

  it('is refused for an image ID, naming both', async () => {
    const sigs = await publishWithSignatures();
    await trust(trusted, 'example.com/app');
    const { id } = await fetchImage(`${base()}${aciPath('example.com/app', 'v1')}`, options({ signatureFile: sigs.good }));
    await expectFailure(fetchImage(id, options({ signatureFile: sigs.good })), 'FETCH_SIGNATURE',
      new RegExp(`^${id}: a signature file \\(${sigs.good}\\) is for an image to fetch, not an image ID`));
  });
});

describe('dependencies', () => {
  it('fetches a two-level chain by name and renders it in order', async () => {
    serveDiscovery();
    await publish('example.com/base', 'v1', { files: { 'etc/layer': 'base\n', 'etc/base-only': 'b\n' } });
    await publish('example.com/mid', 'v1', {
      files: { 'etc/layer': 'mid\n', 'etc/mid-only': 'm\n' },
      deps: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: 'v1' }] }],
    });
    await publish('example.com/top', 'v1', {
      files: { 'etc/layer': 'top\n' },
      deps: [{ imageName: 'example.com/mid', labels: [{ name: 'version', value: 'v1' }] }],
    });
    await trust(trusted, 'example.com');
    const r = await fetchImage('example.com/top:v1', options());
    const byName = new Map((await store.list()).map((i) => [i.name, i.id]));
    expect(r.dependencies).toEqual([byName.get('example.com/base'), byName.get('example.com/mid')]);
    const tree = await store.tree(r.treeId ?? '');
    expect(tree?.layers).toEqual([byName.get('example.com/base'), byName.get('example.com/mid'), r.id]);
    const root = tree?.rootfs ?? '';
    expect(await readFile(join(root, 'etc', 'layer'), 'utf8')).toBe('top\n');
    expect(await readFile(join(root, 'etc', 'base-only'), 'utf8')).toBe('b\n');
    expect(await readFile(join(root, 'etc', 'mid-only'), 'utf8')).toBe('m\n');
  });

  it('a dependency cycle is refused, naming the chain', async () => {
    serveDiscovery();
    await publish('example.com/a', 'v1', { deps: [{ imageName: 'example.com/b', labels: [{ name: 'version', value: 'v1' }] }] });
    await publish('example.com/b', 'v1', { deps: [{ imageName: 'example.com/a', labels: [{ name: 'version', value: 'v1' }] }] });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/a:v1', options()), 'FETCH_DEPENDENCY',
      /dependency cycle: example.com\/a -> example.com\/b -> example.com\/a,version=v1/);
  });

  it('a dependency pinned by image ID must download with that ID', async () => {
    serveDiscovery();
    await publish('example.com/base', 'v1');
    await publish('example.com/top', 'v1', { deps: [{ imageName: 'example.com/base', imageID: `sha512-${'0'.repeat(128)}`, labels: [{ name: 'version', value: 'v1' }] }] });
    await trust(trusted, 'example.com');
    await expectFailure(fetchImage('example.com/top:v1', options()), 'FETCH_MISMATCH', /image ID sha512-[0-9a-f]+ differs from the required sha512-0{128}/);
  });
});

describe('a dependency that cannot be fetched', () => {
  const dep = (name: string, version = 'v1') => ({ imageName: name, labels: [{ name: 'version', value: version }] });

  /** The failure names the dependency and the image needing it, in one line; the store is as it was. */
  async function expectRefusedLeavingStore(p: Promise<unknown>, code: string, reason: RegExp, before: string[] = []): Promise<void> {
    const err = await expectFailure(p, code, /^dependency example\.com\/base,version=v1 of example\.com\/(top|mid): /);
    expect(err.message).toMatch(reason);
    expect((await store.list()).map((i) => i.id).sort()).toEqual([...before].sort());
    expect((await store.trees()).filter((t) => !before.includes(t.imageId))).toEqual([]);
    expect(await readdir(join(dirs.data, 'cas', 'tmp'))).toEqual([]);
    expect(await readdir(join(dirs.data, 'tmp', 'fetch'))).toEqual([]);
  }

  it('missing from the server: refused naming it, and the image that needs it is not kept', async () => {
    serveDiscovery();
    await publish('example.com/top', 'v1', { deps: [dep('example.com/base')] });
    await trust(trusted, 'example.com');
    await expectRefusedLeavingStore(fetchImage('example.com/top:v1', options()), 'FETCH_HTTP', /images\/example\.com\/base-v1-linux-amd64\.aci(\.asc)?: bad HTTP status code: 404/);
    expect(await store.getRemote(`${base()}${aciPath('example.com/top', 'v1')}`)).toBeUndefined();
  });

  it('signed by a key nobody trusted: refused naming it; a dependency fetched before it goes too', async () => {
    serveDiscovery();
    await publish('example.com/other', 'v1');
    await publish('example.com/base', 'v1', { key: stranger });
    await publish('example.com/top', 'v1', { deps: [dep('example.com/other'), dep('example.com/base')] });
    await trust(trusted, 'example.com');
    await expectRefusedLeavingStore(fetchImage('example.com/top:v1', options()), 'FETCH_SIGNATURE', /not trusted|rkt trust/);
    // Both the top and the dependency fetched before the failing one were downloaded, and are gone again.
    expect(server.log.filter((e) => e.path === aciPath('example.com/other', 'v1') && e.status === 200)).toHaveLength(1);
  });

  it('whose labels differ from those asked for, two levels down: refused naming it and the image needing it', async () => {
    serveDiscovery();
    // Served where v1 is looked for, but its manifest says v2.
    await publish('example.com/base', 'v1', { labels: [{ name: 'version', value: 'v2' }, ...HOST_LABELS] });
    await publish('example.com/mid', 'v1', { deps: [dep('example.com/base')] });
    await publish('example.com/top', 'v1', { deps: [dep('example.com/mid')] });
    await trust(trusted, 'example.com');
    await expectRefusedLeavingStore(fetchImage('example.com/top:v1', options()), 'FETCH_MISMATCH', /of example\.com\/mid: .*requested value for label "version": "v1" differs from fetched aci label value: "v2"/);
  });

  it('keeps an image that was stored before the fetch, and gives back what its import changed', async () => {
    serveDiscovery();
    await publish('example.com/base', 'v1', { key: null });
    const topAci = await publish('example.com/top', 'v1', { deps: [dep('example.com/base')] });
    await trust(trusted, 'example.com');
    const file = join(dirs.root, 'top.aci');
    await writeFile(file, topAci);
    const top = await store.importAci(file);
    // Found in the store (`new`), or downloaded again and imported over the stored copy (`update`): either
    // way the fetch fails on the unsigned dependency and the image stays, without the download's record.
    await expectRefusedLeavingStore(fetchImage('example.com/top:v1', options({ pullPolicy: 'new' })), 'FETCH_SIGNATURE', /no signature/, [top.id]);
    await expectRefusedLeavingStore(fetchImage('example.com/top:v1', options()), 'FETCH_SIGNATURE', /no signature/, [top.id]);
    expect(server.log.filter((e) => e.path === aciPath('example.com/top', 'v1') && e.status === 200)).toHaveLength(1);
    expect(await store.getRemote(`${base()}${aciPath('example.com/top', 'v1')}`)).toBeUndefined();
    expect((await store.get(top.id))?.latest).toBe(false);
  });
});

