import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '@rkt/image-store';
import { configDirs, createProgress, fetchImage, FetchError, Keystore, loadAuth, readAuthConfig, readDockerAuthConfig, type FetchOptions } from '../src/index.js';
// The CLI from its source, as trust.test.ts does: a package import may resolve to a stale dist.
import { runCli } from '../../stage0-cli/src/index.js';
import { discoveryPage, HOST_LABELS, loopback, makeAci, makeDirs, makeKey, makeTestCa, sign, TestServer, type TestCa, type TestKey } from './helpers.js';

let ca: TestCa;
let caDirs: Awaited<ReturnType<typeof makeDirs>>;
let server: TestServer;
let key: TestKey;
let aci: Buffer;

beforeAll(async () => {
  caDirs = await makeDirs();
  ca = await makeTestCa(caDirs.root);
  server = new TestServer();
  await server.start(ca);
  key = await makeKey('Signer');
  aci = await makeAci(caDirs.root, { name: 'example.com/app', labels: [{ name: 'version', value: 'v1' }, ...HOST_LABELS] }, { 'etc/x': 'x\n' });
});

afterAll(async () => {
  await server?.stop();
  await caDirs?.cleanup();
});

let dirs: Awaited<ReturnType<typeof makeDirs>>;
let store: Store;

beforeEach(async () => {
  server.log.length = 0;
  dirs = await makeDirs();
  await mkdir(join(dirs.local, 'certs.d'));
  await writeFile(join(dirs.local, 'certs.d', 'ca.pem'), ca.caPem);
  await new Keystore({ localConfigDir: dirs.local, systemConfigDir: dirs.system }).store(key.publicArmored, 'example.com');
  store = await openStore({ dir: dirs.data });
});

afterEach(async () => {
  await dirs.cleanup();
});

const opts = (): FetchOptions => ({
  store, localConfigDir: dirs.local, systemConfigDir: dirs.system, network: { lookup: loopback, discoveryPort: server.port },
});

async function serveProtected(authorization: string): Promise<void> {
  const base = `https://example.com:${server.port}`;
  server.resources.clear();
  server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/p/{name}-{version}.{ext}`]) });
  server.resources.set('/p/example.com/app-v1.aci', { body: aci, requireAuth: authorization });
  server.resources.set('/p/example.com/app-v1.aci.asc', { body: await sign(key, aci), requireAuth: authorization });
}

async function authConfig(dir: string, name: string, cfg: unknown): Promise<void> {
  await mkdir(join(dir, 'auth.d'), { recursive: true });
  await writeFile(join(dir, 'auth.d', name), JSON.stringify(cfg));
}

describe('auth.d', () => {
  it('sends basic credentials to the configured domain', async () => {
    await serveProtected(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    await authConfig(dirs.local, 'reg.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'basic', credentials: { user: 'alice', password: 's3cret' } });
    const r = await fetchImage('example.com/app:v1', opts());
    expect(r.downloaded).toBe(true);
    expect(server.requests('/p/', 401)).toEqual([]);
  });

  it('sends an oauth bearer token; a local file overrides the system one', async () => {
    await serveProtected('Bearer tok-123');
    await authConfig(dirs.system, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'oauth', credentials: { token: 'stale' } });
    await authConfig(dirs.local, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'oauth', credentials: { token: 'tok-123' } });
    expect((await fetchImage('example.com/app:v1', opts())).downloaded).toBe(true);
  });

  it('credentials for another domain are not sent, and the 401 is reported', async () => {
    await serveProtected('Bearer tok-123');
    await authConfig(dirs.local, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['other.com'], type: 'oauth', credentials: { token: 'tok-123' } });
    const err = await fetchImage('example.com/app:v1', opts()).catch((e: unknown) => e);
    expect((err as FetchError).code).toBe('FETCH_HTTP');
    expect((err as FetchError).message).toMatch(/app-v1.aci: bad HTTP status code: 401/);
    expect(server.log.every((e) => e.authorization === undefined)).toBe(true);
    expect(await store.list()).toEqual([]);
  });

  it('follows a redirect to another host without sending it the credentials', async () => {
    const base = `https://example.com:${server.port}`;
    server.resources.clear();
    server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/r/{name}-{version}.{ext}`]) });
    server.resources.set('/r/example.com/app-v1.aci', { body: Buffer.alloc(0), redirect: `https://other.com:${server.port}/cdn/app-v1.aci` });
    server.resources.set('/r/example.com/app-v1.aci.asc', { body: Buffer.alloc(0), redirect: `https://other.com:${server.port}/cdn/app-v1.aci.asc` });
    server.resources.set('/cdn/app-v1.aci', { body: aci });
    server.resources.set('/cdn/app-v1.aci.asc', { body: await sign(key, aci) });
    await authConfig(dirs.local, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'oauth', credentials: { token: 'secret' } });
    const r = await fetchImage('example.com/app:v1', opts());
    expect(r.signedBy).toBe(key.fingerprint);
    expect(server.requests('/r/').map((e) => [e.status, e.authorization])).toEqual([[302, 'Bearer secret'], [302, 'Bearer secret']]);
    const cdn = server.requests('/cdn/');
    expect(cdn.map((e) => e.host)).toEqual([`other.com:${server.port}`, `other.com:${server.port}`]);
    expect(cdn.every((e) => e.authorization === undefined)).toBe(true);
  });

  it('refuses a redirect from https to plain http', async () => {
    const base = `https://example.com:${server.port}`;
    server.resources.clear();
    server.resources.set('/?ac-discovery=1', { body: discoveryPage('example.com', [`${base}/r/{name}-{version}.{ext}`]) });
    server.resources.set('/r/example.com/app-v1.aci', { body: Buffer.alloc(0), redirect: `http://example.com:${server.port}/cdn/app-v1.aci` });
    const err = await fetchImage('example.com/app:v1', opts()).catch((e: unknown) => e);
    expect((err as FetchError).code).toBe('FETCH_INSECURE');
    expect((err as FetchError).message).toMatch(/http:\/\/example.com:\d+\/cdn\/app-v1.aci: plain http is not allowed/);
    expect(server.requests('/cdn/')).toEqual([]);
  });

  it('a malformed auth file is one line naming the file and the field', async () => {
    await authConfig(dirs.local, 'bad.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'basic', credentials: { user: 'x' } });
    await expect(loadAuth([dirs.system, dirs.local])).rejects.toThrow(/auth\.d\/bad\.json: credentials\.password: /);
    await authConfig(dirs.local, 'bad.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'digest', credentials: {} });
    await expect(loadAuth([dirs.local])).rejects.toMatchObject({ code: 'FETCH_CONFIG' });
  });
});

describe('readAuthConfig', () => {
  it('merges system, local and user auth.d per domain, the later directory winning; dockerAuth entries are docker\'s own', async () => {
    const user = join(dirs.root, 'user');
    await authConfig(dirs.system, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com', 'bar.com', 'baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } });
    await authConfig(dirs.local, 'b.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['bar.com'], type: 'oauth', credentials: { token: 'localToken' } });
    await authConfig(dirs.local, 'c.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['index.docker.io'], credentials: { user: 'd', password: 'p' } });
    await authConfig(user, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'password' } });
    const dirsOf = configDirs({ systemConfigDir: dirs.system, localConfigDir: dirs.local, userConfigDir: user });
    expect(dirsOf).toEqual([dirs.system, dirs.local, user]);
    const merged = await readAuthConfig(dirsOf);
    // The dockerAuth file gives docker registries' credentials (readDockerAuthConfig), not a domain's headers.
    expect((await readDockerAuthConfig(dirsOf)).forRegistry('registry-1.docker.io')).toEqual({ user: 'd', password: 'p' });
    expect(Object.fromEntries(merged)).toEqual({
      'foo.com': { type: 'basic', credentials: { user: 'user', password: 'password' } },
      'bar.com': { type: 'oauth', credentials: { token: 'localToken' } },
      'baz.com': { type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
    });
    // The headers the fetcher sends are made from the same merge.
    const headers = await loadAuth(dirsOf);
    expect(headers.forHost(new URL('https://foo.com/x'))).toEqual({ authorization: `Basic ${Buffer.from('user:password').toString('base64')}` });
    expect(headers.forHost(new URL('https://bar.com/x'))).toEqual({ authorization: 'Bearer localToken' });
    // Without a user directory, the system's entry for foo.com stands.
    expect((await readAuthConfig([dirs.system, dirs.local])).get('foo.com')).toEqual({ type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } });
    // A domain twice in one directory is an error, as in rkt.
    await authConfig(dirs.local, 'd.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['bar.com'], type: 'oauth', credentials: { token: 'again' } });
    await expect(readAuthConfig(dirsOf)).rejects.toThrow(`${join(dirs.local, 'auth.d', 'd.json')}: domain bar.com is already configured in ${join(dirs.local, 'auth.d', 'b.json')}`);
  });
});

describe('auth.d files of another kind', () => {
  async function rktFetch(): Promise<{ code: number; err: string }> {
    let err = '';
    const code = await runCli([`--local-config=${dirs.local}`, `--system-config=${dirs.system}`, `--dir=${dirs.data}`, 'fetch', 'example.com/app:v1'],
      { stdout: { write: () => undefined }, stderr: { write: (s: string) => { err += s; } }, cwd: dirs.root });
    return { code, err };
  }

  it('a file of kind "paths", or one that is not an object, is refused: one line naming the file, 254, nothing fetched or stored', async () => {
    await serveProtected('none needed');
    server.resources.get('/p/example.com/app-v1.aci')!.requireAuth = undefined;
    server.resources.get('/p/example.com/app-v1.aci.asc')!.requireAuth = undefined;
    const file = join(dirs.local, 'auth.d', 'paths.json');
    await authConfig(dirs.local, 'paths.json', { rktKind: 'paths', rktVersion: 'v1', data: '/var/lib/rkt' });
    const err = await fetchImage('example.com/app:v1', opts()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_CONFIG', message: `${file}: no parser available for configuration of kind "paths" (auth.d holds kinds "auth" and "dockerAuth")` });
    const cli = await rktFetch();
    expect(cli).toEqual({ code: 254, err: `fetch: ${file}: no parser available for configuration of kind "paths" (auth.d holds kinds "auth" and "dockerAuth")\n` });

    await authConfig(dirs.local, 'paths.json', []);
    expect(await rktFetch()).toEqual({ code: 254, err: `fetch: ${file}: not a configuration: expected a JSON object with rktKind and rktVersion, found an array\n` });
    await authConfig(dirs.local, 'paths.json', { rktVersion: 'v1' });
    expect((await rktFetch()).err).toBe(`fetch: ${file}: no parser available for configuration of kind "" (auth.d holds kinds "auth" and "dockerAuth")\n`);
    expect(server.requests('/')).toEqual([]);
    expect(await store.list()).toEqual([]);

    // rkt's other kind of credentials belongs here too: checked as rkt's config loader did (a bad one is refused
    // whatever is fetched), and a good one lets the fetch go on.
    await authConfig(dirs.local, 'paths.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: 'quay.io', credentials: { user: 'u', password: 'p' } });
    expect((await rktFetch()).err).toMatch(new RegExp(`^fetch: ${file}: registries: .*\n$`));
    expect(await store.list()).toEqual([]);
    await authConfig(dirs.local, 'paths.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io'], credentials: { user: 'u', password: 'p' } });
    expect((await fetchImage('example.com/app:v1', opts())).downloaded).toBe(true);
  });
});

describe('progress', () => {
  it('draws a bar on a terminal and nothing otherwise', () => {
    const tty: string[] = [];
    const p = createProgress({ write: (s: string) => tty.push(s), isTTY: true, columns: 80 }, 'Downloading ACI', 2048);
    p.update(1024);
    p.done();
    expect(tty.join('')).toMatch(/\rDownloading ACI: \[=+ +\] 1\.0 KiB \/ 2\.0 KiB/);
    expect(tty.at(-1)).toBe('\n');
    const pipe: string[] = [];
    const q = createProgress({ write: (s: string) => pipe.push(s), isTTY: false }, 'Downloading ACI', 2048);
    q.update(2048);
    q.done();
    expect(pipe).toEqual([]);
  });

  it('a fetch to a terminal draws the bar on stderr', async () => {
    await serveProtected('Bearer t');
    await authConfig(dirs.local, 'a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['example.com'], type: 'oauth', credentials: { token: 't' } });
    const err: string[] = [];
    await fetchImage('example.com/app:v1', { ...opts(), stderr: { write: (s: string) => err.push(s), isTTY: true } });
    expect(err.join('')).toMatch(/Downloading ACI: \[=+\] /);
  });
});
