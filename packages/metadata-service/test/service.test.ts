import { mkdtempSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MetadataServiceError, checkMetadataService, metadataUrl, registerPod, startMetadataService, unregisterPod, type MetadataService } from '../src/index.js';

const UUID_A = '6733c8c0-8a2b-4a9f-9d2e-2f1e3c4b5a61';
const UUID_B = 'f1e2d3c4-b5a6-4789-8a9b-0c1d2e3f4a5b';
const IMAGE_MAIN = `sha512-${'a'.repeat(64)}`;
const IMAGE_SIDE = `sha512-${'b'.repeat(64)}`;

const imageMain = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/main',
  app: { exec: ['/main'], user: '0', group: '0' },
  annotations: [
    { name: 'authors', value: 'Carly Container' },
    { name: 'lorem', value: 'ipsum' },
  ],
};
const imageSide = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/side' };

function podManifest(annotations?: Array<{ name: string; value: string }>) {
  return {
    acKind: 'PodManifest',
    acVersion: '0.8.11',
    apps: [
      { name: 'main', image: { name: 'example.com/main', id: IMAGE_MAIN }, annotations: [{ name: 'lorem', value: 'dolor' }, { name: 'extra', value: '1' }] },
      { name: 'side', image: { name: 'example.com/side', id: IMAGE_SIDE } },
    ],
    volumes: [],
    isolators: [],
    ...(annotations ? { annotations } : {}),
    ports: [],
  };
}

let dir: string;
let svc: MetadataService;
const started: MetadataService[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-mds-'));
  svc = await startMetadataService({ socketPath: join(dir, 'run', 'mds.sock'), port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function register(uuid = UUID_A, annotations?: Array<{ name: string; value: string }>): Promise<string> {
  const reg = await registerPod(svc.socketPath, { uuid, manifest: podManifest(annotations), apps: { main: imageMain, side: imageSide } });
  expect(reg.port).toBe(svc.port);
  return metadataUrl(reg);
}

function get(base: string, path: string, init: RequestInit = {}) {
  return fetch(`${base}/acMetadata/v1${path}`, { ...init, headers: { 'Metadata-Flavor': 'AppContainer', ...(init.headers ?? {}) } });
}

function postForm(base: string, path: string, form: Record<string, string>) {
  return get(base, path, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
}

describe('the apps\' endpoints', () => {
  it('serve the pod manifest, UUID and annotations with the spec\'s content types', async () => {
    const url = await register(UUID_A, [{ name: 'ip-address', value: '10.1.2.3' }]);
    const manifest = await get(url, '/pod/manifest');
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('content-type')).toBe('application/json');
    expect(await manifest.json()).toEqual(podManifest([{ name: 'ip-address', value: '10.1.2.3' }]));

    const uuid = await get(url, '/pod/uuid');
    expect(uuid.headers.get('content-type')).toBe('text/plain; charset=us-ascii');
    expect(await uuid.text()).toBe(UUID_A);

    const annotations = await get(url, '/pod/annotations');
    expect(annotations.headers.get('content-type')).toBe('application/json');
    expect(await annotations.json()).toEqual([{ name: 'ip-address', value: '10.1.2.3' }]);
  });

  it('serve a pod without annotations as [] in both the manifest and the annotations endpoint', async () => {
    const url = await register();
    expect(await (await get(url, '/pod/annotations')).json()).toEqual([]);
    expect(((await (await get(url, '/pod/manifest')).json()) as { annotations: unknown }).annotations).toEqual([]);
  });

  it('serve each app\'s image manifest, image ID and merged annotations', async () => {
    const url = await register();
    const im = await get(url, '/apps/main/image/manifest');
    expect(im.headers.get('content-type')).toBe('application/json');
    expect(await im.json()).toEqual(imageMain);
    const id = await get(url, '/apps/side/image/id');
    expect(id.headers.get('content-type')).toBe('text/plain; charset=us-ascii');
    expect(await id.text()).toBe(IMAGE_SIDE);
    // The image's annotations in order, the pod's override in place, new ones appended.
    expect(await (await get(url, '/apps/main/annotations')).json()).toEqual([
      { name: 'authors', value: 'Carly Container' },
      { name: 'lorem', value: 'dolor' },
      { name: 'extra', value: '1' },
    ]);
    expect(await (await get(url, '/apps/side/annotations')).json()).toEqual([]);
  });

  it('answer 404 to an unknown app, endpoint or token, and 405 to a wrong method', async () => {
    const url = await register();
    const app = await get(url, '/apps/nope/image/id');
    expect(app.status).toBe(404);
    expect(await app.text()).toContain('no app "nope"');
    expect((await get(url, '/pod/nothing')).status).toBe(404);
    expect((await fetch(`${url}/other/v1/pod/uuid`)).status).toBe(404);
    const base = new URL(url);
    expect((await get(`${base.origin}/${'A'.repeat(43)}`, '/pod/uuid')).status).toBe(404);
    expect((await get(base.origin, '/pod/uuid')).status).toBe(404);
    const post = await get(url, '/pod/manifest', { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const sign = await get(url, '/pod/hmac/sign');
    expect(sign.status).toBe(405);
    expect(sign.headers.get('allow')).toBe('POST');
  });

  it('sign with HMAC-SHA512 and verify: 200 for the signer, 403 for other content or another pod', async () => {
    const urlA = await register(UUID_A);
    const urlB = await register(UUID_B);
    const sign = await postForm(urlA, '/pod/hmac/sign', { content: 'Old MacDonald Had A Farm' });
    expect(sign.status).toBe(200);
    expect(sign.headers.get('content-type')).toBe('text/plain; charset=us-ascii');
    const signature = await sign.text();
    expect(Buffer.from(signature, 'base64')).toHaveLength(64);

    // Pod B checks pod A's signature: the point of the identity endpoint.
    const ok = await postForm(urlB, '/pod/hmac/verify', { content: 'Old MacDonald Had A Farm', uuid: UUID_A, signature });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; charset=us-ascii');
    // rkt's field name.
    expect((await postForm(urlB, '/pod/hmac/verify', { content: 'Old MacDonald Had A Farm', uid: UUID_A, signature })).status).toBe(200);
    expect((await postForm(urlB, '/pod/hmac/verify', { content: 'Old MacDonald Had A Cow', uuid: UUID_A, signature })).status).toBe(403);
    expect((await postForm(urlB, '/pod/hmac/verify', { content: 'Old MacDonald Had A Farm', uuid: UUID_B, signature })).status).toBe(403);
    const signedByB = await (await postForm(urlB, '/pod/hmac/sign', { content: 'Old MacDonald Had A Farm' })).text();
    expect(signedByB).not.toBe(signature);
  });

  it('answer 400 to a form without content, uuid or a base64 signature', async () => {
    const url = await register();
    const noContent = await postForm(url, '/pod/hmac/sign', { other: 'x' });
    expect(noContent.status).toBe(400);
    expect(await noContent.text()).toContain('"content" missing');
    expect((await postForm(url, '/pod/hmac/verify', { uuid: UUID_A, signature: 'AAAA' })).status).toBe(400);
    expect((await postForm(url, '/pod/hmac/verify', { content: 'x', signature: 'AAAA' })).status).toBe(400);
    expect((await postForm(url, '/pod/hmac/verify', { content: 'x', uuid: 'not-a-uuid', signature: 'AAAA' })).status).toBe(400);
    expect((await postForm(url, '/pod/hmac/verify', { content: 'x', uuid: UUID_A, signature: '!!!' })).status).toBe(400);
    expect((await get(url, '/pod/hmac/sign', { method: 'POST', body: '{"content":"x"}', headers: { 'Content-Type': 'application/json' } })).status).toBe(415);
  });

  it('keep pods apart: a pod\'s token reads only its own data, and tokens carry 256 random bits', async () => {
    const urlA = await register(UUID_A);
    const urlB = await register(UUID_B);
    const tokenA = new URL(urlA).pathname.slice(1);
    const tokenB = new URL(urlB).pathname.slice(1);
    expect(tokenA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenA).not.toBe(tokenB);
    expect(tokenA).not.toContain(UUID_A.replace(/-/g, ''));
    expect(await (await get(urlA, '/pod/uuid')).text()).toBe(UUID_A);
    expect(await (await get(urlB, '/pod/uuid')).text()).toBe(UUID_B);
    // A token one character off is just unknown.
    const off = `${tokenA.slice(0, -1)}${tokenA.endsWith('A') ? 'B' : 'A'}`;
    expect((await get(`${new URL(urlA).origin}/${off}`, '/pod/uuid')).status).toBe(404);
  });

  it('forget a pod and all its tokens once unregistered; a registration again serves the new data to every token', async () => {
    const old = await register(UUID_A);
    const url = await register(UUID_A, [{ name: 'second', value: 'yes' }]);
    expect(old).not.toBe(url);
    for (const u of [old, url]) expect(await (await get(u, '/pod/annotations')).json()).toEqual([{ name: 'second', value: 'yes' }]);
    expect(await unregisterPod(svc.socketPath, UUID_A)).toBe(true);
    expect((await get(old, '/pod/uuid')).status).toBe(404);
    expect((await get(url, '/pod/uuid')).status).toBe(404);
    expect(await unregisterPod(svc.socketPath, UUID_A)).toBe(false);
  });

  it('answer well inside 100 ms (the issue\'s bound)', async () => {
    const url = await register(UUID_A);
    const sig = await (await postForm(url, '/pod/hmac/sign', { content: 'c' })).text();
    const requests: Array<() => Promise<Response>> = [
      () => get(url, '/pod/manifest'),
      () => get(url, '/pod/uuid'),
      () => get(url, '/pod/annotations'),
      () => get(url, '/apps/main/annotations'),
      () => get(url, '/apps/main/image/manifest'),
      () => get(url, '/apps/main/image/id'),
      () => postForm(url, '/pod/hmac/sign', { content: 'c' }),
      () => postForm(url, '/pod/hmac/verify', { content: 'c', uuid: UUID_A, signature: sig }),
    ];
    const times: number[] = [];
    for (let round = 0; round < 10; round++) {
      for (const r of requests) {
        const t0 = performance.now();
        const res = await r();
        await res.arrayBuffer();
        times.push(performance.now() - t0);
        expect(res.status).toBe(200);
      }
    }
    times.sort((a, b) => a - b);
    // Round trips, client included, in one process on a shared 2-core machine (load average 10-14 while this
    // was written: p50 about 1 ms, p99 25-45 ms, single outliers past 100 ms from scheduling alone). So: the
    // median well inside the bound, and 95% of answers inside it. The ACE test holds every real request
    // to 100 ms through the validator's own client timeout.
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(10);
    expect(times[Math.floor(times.length * 0.95)]).toBeLessThan(100);
  });
});

describe('registration', () => {
  it('refuses a registration missing an app\'s image manifest, naming the app', async () => {
    const err = await registerPod(svc.socketPath, { uuid: UUID_A, manifest: podManifest(), apps: { main: imageMain } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataServiceError);
    expect((err as MetadataServiceError).code).toBe('MDS_REJECTED');
    expect((err as Error).message).toContain('no image manifest for app "side"');
  });

  it('refuses a malformed UUID and a manifest that is not a pod manifest', async () => {
    await expect(registerPod(svc.socketPath, { uuid: 'NOT-A-UUID', manifest: podManifest(), apps: {} })).rejects.toThrow(/400 .*not a UUID/);
    await expect(registerPod(svc.socketPath, { uuid: UUID_A, manifest: { acKind: 'ImageManifest' }, apps: {} })).rejects.toThrow(/manifest.acKind/);
  });

  it('says clearly when no service runs', async () => {
    const missing = join(dir, 'none.sock');
    const err = await checkMetadataService(missing).catch((e: unknown) => e);
    expect((err as MetadataServiceError).code).toBe('MDS_UNAVAILABLE');
    expect((err as Error).message).toBe(`cannot reach the metadata service at ${missing}: no such socket (is "rkt metadata-service" running?)`);
    await expect(checkMetadataService(svc.socketPath)).resolves.toBeUndefined();
  });

  it('makes the socket root-only, replaces a stale one, refuses a second service and removes it on close', async () => {
    expect(statSync(svc.socketPath).mode & 0o777).toBe(0o600);
    const sock = join(dir, 'stale.sock');
    // A socket file nobody listens on, as a service killed by SIGKILL leaves it.
    const killed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(sock)).toBe(true);
    const s = await startMetadataService({ socketPath: sock, port: 0, host: '127.0.0.1' });
    started.push(s);
    await expect(checkMetadataService(sock)).resolves.toBeUndefined();
    const second = await startMetadataService({ socketPath: sock, port: 0, host: '127.0.0.1' }).catch((e: unknown) => e);
    expect((second as MetadataServiceError).code).toBe('MDS_LISTEN');
    expect((second as Error).message).toContain('another metadata service is running');
    await s.close();
    expect(existsSync(sock)).toBe(false);
  });

  it('refuses to start over a file that is not a socket, and on a port in use', async () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    await expect(startMetadataService({ socketPath: file, port: 0 })).rejects.toThrow(`cannot listen on ${file}: a file that is not a socket is there`);
    const err = await startMetadataService({ socketPath: join(dir, 'other.sock'), port: svc.port, host: '127.0.0.1' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`cannot listen on port ${svc.port}: address in use`);
    expect(existsSync(join(dir, 'other.sock'))).toBe(false);
  });

  it('refuses a socket path whose directory cannot be made, instead of looping in mkdir (/proc)', async () => {
    // Node's recursive mkdir retried /proc/<x> forever here, at 100% CPU.
    const err = await startMetadataService({ socketPath: '/proc/rkt-mds-test/mds.sock', port: 0 }).catch((e: unknown) => e);
    expect((err as MetadataServiceError).code).toBe('MDS_LISTEN');
    expect((err as Error).message).toBe('cannot listen on /proc/rkt-mds-test/mds.sock: cannot create its directory: /proc accepts no new directories');
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(startMetadataService({ socketPath: join(file, 'mds.sock'), port: 0 }))
      .rejects.toThrow(`cannot listen on ${file}/mds.sock: cannot create its directory: ${file} exists and is not a directory`);
  });
});
