import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configDirs, FetchError, HttpClient, loadCaCertificates, parseDockerRef, pullDockerImage, readDockerAuthConfig, type PullOptions } from '../src/index.js';
import { makeDirs, makeTestCa, type TestCa } from './helpers.js';
import { makeImage, makeLayer, TestRegistry, type BuiltImage, type PushedImage } from './registry.js';

const ALICE = { user: 'alice', password: 's3cret pass' };

let ca: TestCa;
let caDirs: Awaited<ReturnType<typeof makeDirs>>;
let image: BuiltImage;
let dirs: Awaited<ReturnType<typeof makeDirs>>;

beforeAll(async () => {
  caDirs = await makeDirs();
  ca = await makeTestCa(caDirs.root);
  image = makeImage([await makeLayer({ 'etc/secret': 'only for alice\n' })]);
});

afterAll(async () => {
  await caDirs?.cleanup();
});

beforeEach(async () => {
  dirs = await makeDirs();
});

afterEach(async () => {
  await dirs.cleanup();
});

async function failure(p: Promise<unknown>): Promise<FetchError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  expect((err as Error).message).not.toContain('\n');
  return err as FetchError;
}

async function dockerAuth(dir: string, name: string, cfg: unknown): Promise<void> {
  await mkdir(join(dir, 'auth.d'), { recursive: true });
  await writeFile(join(dir, 'auth.d', name), JSON.stringify(cfg));
}

/** What the lead's glue will do: auth.d's dockerAuth entries as the credentials lookup. */
async function credentialsFrom(...configDirsList: string[]): Promise<PullOptions['credentials']> {
  const auth = await readDockerAuthConfig(configDirsList);
  return (registry) => auth.forRegistry(registry);
}

describe('https with a private CA', () => {
  let registry: TestRegistry;
  let pushed: PushedImage;
  beforeAll(async () => {
    registry = await TestRegistry.start({ tls: ca });
    pushed = await registry.pushImage('test/app', 'v1', image);
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls over https when certs.d trusts the CA, and refuses the certificate otherwise', async () => {
    await mkdir(join(dirs.local, 'certs.d'));
    await writeFile(join(dirs.local, 'certs.d', 'registry-ca.pem'), ca.caPem);
    const http = new HttpClient({ ca: await loadCaCertificates(configDirs({ systemConfigDir: dirs.system, localConfigDir: dirs.local })) });
    const ref = parseDockerRef(`docker://${registry.host}/test/app:v1`);
    const r = await pullDockerImage(ref, { http, dir: dirs.data, os: 'linux', arch: 'amd64' });
    expect(r.manifestDigest).toBe(pushed.manifestDigest);
    expect(await readFile(r.layers[0]!.path)).toEqual(gunzipSync(image.layers[0]!.gz));

    const err = await failure(pullDockerImage(ref, { http: new HttpClient(), dir: dirs.system, os: 'linux', arch: 'amd64' }));
    expect(err.code).toBe('FETCH_HTTP');
    expect(err.message).toBe(`docker://${registry.host}/test/app:v1: https://${registry.host}/v2/: unable to verify the first certificate`);
    expect(await readdir(dirs.system)).toEqual([]);
    // With plain http allowed the certificate failure is still what is said (the registry answers http with a 400).
    const both = await failure(pullDockerImage(ref, { http: new HttpClient({ allowHttp: true }), dir: dirs.system, os: 'linux', arch: 'amd64' }));
    expect(both).toMatchObject({ code: 'FETCH_HTTP', message: `docker://${registry.host}/test/app:v1: https://${registry.host}/v2/: unable to verify the first certificate` });
    // --insecure-options=tls accepts it.
    const insecure = await pullDockerImage(ref, { http: new HttpClient({ insecureTls: true }), dir: dirs.system, os: 'linux', arch: 'amd64' });
    expect(insecure.manifestDigest).toBe(pushed.manifestDigest);
  });
});

describe('basic auth (htpasswd)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await TestRegistry.start({ tls: ca, htpasswd: ALICE });
    await registry.pushImage('test/private', 'v1', image);
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
  });

  const http = () => new HttpClient({ ca: [ca.caPem] });

  it('pulls with the dockerAuth credentials for the registry, and says what is missing without them', async () => {
    const ref = parseDockerRef(`docker://${registry.host}/test/private:v1`);
    const none = await failure(pullDockerImage(ref, { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64', credentials: await credentialsFrom(dirs.local) }));
    expect(none).toMatchObject({ code: 'FETCH_AUTH',
      message: `docker://${registry.host}/test/private:v1: ${registry.host} requires a user name and password: none configured (add a dockerAuth entry for ${registry.host} in auth.d)` });

    await dockerAuth(dirs.local, 'wrong.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: [registry.host], credentials: { user: 'alice', password: 'nope' } });
    const wrong = await failure(pullDockerImage(ref, { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64', credentials: await credentialsFrom(dirs.local) }));
    expect(wrong).toMatchObject({ code: 'FETCH_AUTH',
      message: `docker://${registry.host}/test/private:v1: the registry says UNAUTHORIZED: authentication required (${registry.host} refused the credentials auth.d gives for it)` });
    expect(await readdir(dirs.data)).toEqual([]);

    // The right password in the user's config dir wins over the local one.
    const user = join(dirs.root, 'user');
    await dockerAuth(user, 'alice.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io', registry.host], credentials: ALICE });
    const r = await pullDockerImage(ref, { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64', credentials: await credentialsFrom(dirs.local, user) });
    expect(await readFile(r.layers[0]!.path)).toEqual(gunzipSync(image.layers[0]!.gz));
  });
});

describe('token auth', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await TestRegistry.start({ token: { user: ALICE } });
    await registry.pushImage('test/tok', 'v1', image);
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
  });

  const http = new HttpClient({ allowHttp: true });

  it('gets one pull token from the realm with the credentials, and reuses it for the whole pull', async () => {
    registry.tokenRequests.length = 0;
    const ref = parseDockerRef(`docker://${registry.host}/test/tok:v1`);
    await dockerAuth(dirs.local, 'a.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: [registry.host], credentials: ALICE });
    const r = await pullDockerImage(ref, { http, dir: dirs.data, os: 'linux', arch: 'amd64', credentials: await credentialsFrom(dirs.local) });
    expect(await readFile(r.layers[0]!.path)).toEqual(gunzipSync(image.layers[0]!.gz));
    expect(registry.tokenRequests).toEqual([{
      authorization: `Basic ${Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64')}`,
      service: 'rkt-ts-registry', scopes: ['repository:test/tok:pull'], status: 200,
    }]);
  });

  it('without credentials the token server refuses, said in one line', async () => {
    const ref = parseDockerRef(`docker://${registry.host}/test/tok:v1`);
    const err = await failure(pullDockerImage(ref, { http, dir: dirs.data, os: 'linux', arch: 'amd64' }));
    const port = /\/\/127\.0\.0\.1:(\d+)\/token/.exec(err.message)?.[1];
    expect(err).toMatchObject({ code: 'FETCH_AUTH',
      message: `docker://${registry.host}/test/tok:v1: the token server http://127.0.0.1:${port}/token refused an anonymous token (401): ${registry.host} needs credentials (add a dockerAuth entry for it in auth.d)` });
    expect(await readdir(dirs.data)).toEqual([]);
  });
});

describe('dockerAuth files', () => {
  it('Docker Hub under any of its names; a registry twice in one dir, or a bad field, is refused naming the file', async () => {
    await dockerAuth(dirs.system, 'hub.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['index.docker.io'], credentials: { user: 'sys', password: 'p1' } });
    await dockerAuth(dirs.local, 'hub.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['docker.io'], credentials: { user: 'local', password: 'p2' } });
    const auth = await readDockerAuthConfig([dirs.system, dirs.local]);
    for (const name of ['registry-1.docker.io', 'docker.io', 'index.docker.io']) expect(auth.forRegistry(name)).toEqual({ user: 'local', password: 'p2' });
    expect(auth.forRegistry('quay.io')).toBeUndefined();
    expect(auth.forRegistry(parseDockerRef('docker://busybox').registry)).toEqual({ user: 'local', password: 'p2' });

    await dockerAuth(dirs.local, 'z.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['registry-1.docker.io'], credentials: { user: 'x', password: 'y' } });
    await expect(readDockerAuthConfig([dirs.system, dirs.local])).rejects.toThrow(
      `${join(dirs.local, 'auth.d', 'z.json')}: registry registry-1.docker.io is already configured in ${join(dirs.local, 'auth.d', 'hub.json')}`);

    await dockerAuth(dirs.local, 'z.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io'], credentials: { user: 'x' } });
    const err = await failure(readDockerAuthConfig([dirs.local]));
    expect(err.code).toBe('FETCH_CONFIG');
    expect(err.message).toMatch(new RegExp(`^${join(dirs.local, 'auth.d', 'z.json')}: credentials\\.password: `));
    await dockerAuth(dirs.local, 'z.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: [], credentials: { user: 'x', password: 'y' } });
    expect((await failure(readDockerAuthConfig([dirs.local]))).message).toMatch(new RegExp(`^${join(dirs.local, 'auth.d', 'z.json')}: registries: `));
  });
});
