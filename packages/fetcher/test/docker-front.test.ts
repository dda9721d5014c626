import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkManifest, FetchError, HttpClient, parseDockerRef, pullDockerImage } from '../src/index.js';
import { loopback, makeDirs } from './helpers.js';
import { makeImage, makeLayer, useRegistry, type BuiltImage, type PushedImage } from './registry.js';

// A token-auth registry (anonymous pulls allowed) behind a small front server that does what big registries do
// around it: blobs redirected to "storage" on another host with a signed URL, rate limits, stalls.
const fixture = useRegistry({ token: { user: { user: 'alice', password: 'pw' }, anonymousPull: true } });

interface Seen { readonly method?: string; readonly path: string; readonly authorization: string | undefined; readonly status: number; readonly range?: string }
const front = {
  port: 0, rateLimit: 0, stall: false, notRegistry: false, expire: new Set<string>(), expireAll: false, log: [] as Seen[],
  /** How a manifest's HEAD is answered: passed on, refused with this status, or passed on without its digest. */
  head: 'pass' as 'pass' | 405 | 501 | 'no-digest',
  /** The token runs out at the next manifest HEAD. */
  expireHead: false,
  /** Blobs never answered (the request read, no response), and whether each one's connection has closed since. */
  hang: new Set<string>(), hung: [] as { closed: boolean; res: import('node:http').ServerResponse }[],
  /** Blobs answered 404 BLOB_UNKNOWN after 150 ms. */
  failLate: new Set<string>(),
};
const storage = {
  port: 0, log: [] as Seen[],
  /** Blobs whose next answer is cut after this many bytes (a 200 with the whole length announced). */
  cut: new Map<string, number>(),
  /** The token runs out when a blob is cut: the resume gets a 401 from the registry first. */
  expireOnCut: false,
  /** Ranges ignored (a 200 with the whole blob), or answered with the rest's first byte flipped. */
  noRange: false, corruptRest: false,
  /** Blobs answered 503 (storage down). */
  down: new Set<string>(),
};
let servers: Server[] = [];
let image: BuiltImage;
let pushed: PushedImage;
let listDigest: string;
let big: { image: BuiltImage; pushed: PushedImage };
let dirs: Awaited<ReturnType<typeof makeDirs>>;

async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  image = makeImage([await makeLayer({ 'etc/a': 'a\n' }), await makeLayer({ 'etc/b': 'b'.repeat(50_000) })]);
  pushed = await fixture.registry.pushImage('test/app', 'v1', image);
  // A layer gzip cannot shrink much: ~300 KB served, cut part way by the tests of resumes.
  const bigImage = makeImage([image.layers[0]!, await makeLayer({ 'data/blob': randomBytes(300_000).toString('base64') })]);
  big = { image: bigImage, pushed: await fixture.registry.pushImage('test/big', 'v1', bigImage) };
  listDigest = await fixture.registry.pushList('test/app', 'multi', [{ image: pushed, os: 'linux', architecture: 'amd64' }]);
  storage.port = await listen(createServer((req, res) => {
    const digest = /^\/storage\/(sha256:[0-9a-f]{64})\?sig=/.exec(req.url ?? '')?.[1];
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const status = digest === undefined ? 404 : range !== null && !storage.noRange && !storage.cut.has(digest) ? 206 : 200;
    storage.log.push({ path: req.url ?? '', authorization: req.headers.authorization, status, ...(req.headers.range === undefined ? {} : { range: req.headers.range }) });
    if (digest === undefined) return void res.writeHead(404).end();
    if (storage.down.has(digest) && !storage.cut.has(digest)) return void res.writeHead(503).end();
    void readFile(fixture.registry.blobFile(digest)).then((b) => {
      const cutAt = storage.cut.get(digest);
      if (cutAt !== undefined) {
        storage.cut.delete(digest);
        if (storage.expireOnCut) front.expire.add(digest);
        res.writeHead(200, { 'content-length': String(b.length), 'accept-ranges': 'bytes' });
        // Sent, then the connection cut a moment later (with no end to the body).
        return void res.write(b.subarray(0, cutAt), () => setTimeout(() => res.destroy(), 100));
      }
      if (status === 206) {
        const start = Number(range![1]);
        const rest = Buffer.from(b.subarray(start));
        if (storage.corruptRest) rest[0] = rest[0]! ^ 0xff;
        return void res.writeHead(206, { 'content-length': String(rest.length), 'content-range': `bytes ${start}-${b.length - 1}/${b.length}` }).end(rest);
      }
      res.writeHead(200, { 'content-length': String(b.length), 'accept-ranges': 'bytes' }).end(b);
    });
  }));
  front.port = await listen(createServer((req, res) => {
    const path = req.url ?? '/';
    const entry = (status: number) => front.log.push({ method: req.method, path, authorization: req.headers.authorization, status });
    if (front.notRegistry) {
      entry(404);
      return void res.writeHead(404, { 'content-type': 'text/html' }).end('<html>not here</html>');
    }
    if (path === '/v2/test/app/manifests/old') {
      // What registries still serve for images pushed before 2017 (or by an old docker).
      entry(200);
      return void res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' })
        .end(JSON.stringify({ schemaVersion: 1, name: 'test/app', tag: 'old', architecture: 'amd64', fsLayers: [], history: [], signatures: [] }));
    }
    if (path.includes('/manifests/') && front.rateLimit > 0) {
      front.rateLimit--;
      entry(429);
      return void res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
    }
    if (path.includes('/manifests/') && front.stall) {
      entry(200);
      res.writeHead(200, { 'content-length': '1000' });
      return void res.write('{');
    }
    if (path.includes('/manifests/') && req.method === 'HEAD' && front.expireHead) {
      front.expireHead = false;
      entry(401);
      return void res.writeHead(401, { 'content-type': 'application/json' }).end();
    }
    if (path.includes('/manifests/') && req.method === 'HEAD' && typeof front.head === 'number') {
      // A registry (or a proxy in front of one) that does not do HEAD.
      entry(front.head);
      return void res.writeHead(front.head, { 'content-type': 'text/plain' }).end();
    }
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (blob !== null && front.hang.has(blob[1]!)) {
      entry(0);
      const h = { closed: false, res };
      front.hung.push(h);
      req.socket.once('close', () => { h.closed = true; });
      return;
    }
    if (blob !== null && front.failLate.has(blob[1]!)) {
      entry(404);
      return void setTimeout(() => res.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] })), 150);
    }
    if (blob !== null && (front.expireAll || front.expire.delete(blob[1]!))) {
      // The token ran out mid-pull, as Docker Hub's do after 5 minutes.
      entry(401);
      return void res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token expired' }] }));
    }
    if (blob !== null && req.headers.authorization !== undefined) {
      // The registry checked the token; the bytes come from storage on another host, by a signed URL.
      entry(307);
      return void res.writeHead(307, { location: `http://localhost:${storage.port}/storage/${blob[1]}?sig=abc` }).end();
    }
    const up = request({ host: '127.0.0.1', port: fixture.registry.port, path, method: req.method, headers: { ...req.headers, host: fixture.registry.host } }, (r) => {
      entry(r.statusCode ?? 0);
      const headers = { ...r.headers };
      if (front.head === 'no-digest' && req.method === 'HEAD') delete headers['docker-content-digest'];
      res.writeHead(r.statusCode ?? 502, headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }));
}, 30_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  servers = [];
});

beforeEach(async () => {
  dirs = await makeDirs();
  front.log.length = 0;
  storage.log.length = 0;
  front.rateLimit = 0;
  front.stall = false;
  front.notRegistry = false;
  front.expire.clear();
  front.expireAll = false;
  front.head = 'pass';
  front.expireHead = false;
  front.hang.clear();
  front.failLate.clear();
  storage.cut.clear();
  storage.expireOnCut = false;
  storage.noRange = false;
  storage.corruptRest = false;
  storage.down.clear();
  fixture.registry.tokenRequests.length = 0;
});

afterEach(async () => {
  for (const h of front.hung.splice(0)) h.res.destroy();
  await dirs.cleanup();
});

const ref = () => parseDockerRef(`docker://127.0.0.1:${front.port}/test/app:v1`);
const http = (timeoutMs?: number) => new HttpClient({ allowHttp: true, lookup: loopback, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

describe('a registry in front of storage', () => {
  it('an anonymous token; blobs followed to storage without the token', async () => {
    const r = await pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
    for (const [i, l] of r.layers.entries()) expect(await readFile(l.path)).toEqual(gunzipSync(image.layers[i]!.gz));
    expect(r.config).toEqual(image.config);
    expect(fixture.registry.tokenRequests.map((t) => [t.authorization, t.scopes, t.status])).toEqual([[undefined, ['repository:test/app:pull'], 200]]);
    // The registry got the token for every blob; storage got the layers and the config, and never the token.
    const blobs = front.log.filter((e) => e.path.includes('/blobs/'));
    expect(blobs.map((e) => [e.status, e.authorization?.startsWith('Bearer ')])).toEqual([[307, true], [307, true], [307, true]]);
    expect(storage.log.map((e) => e.path.slice('/storage/'.length, -'?sig=abc'.length)).sort()).toEqual([pushed.configDigest, ...pushed.layerDigests].sort());
    expect(storage.log.every((e) => e.authorization === undefined)).toBe(true);
  });

  it('a 429 is asked again after its Retry-After; one that lasts is said with the registry\'s words', async () => {
    front.rateLimit = 1;
    const r = await pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
    expect(r.manifestDigest).toBe(pushed.manifestDigest);
    expect(front.log.filter((e) => e.path.includes('/manifests/')).map((e) => e.status)).toEqual([429, 200]);

    front.rateLimit = 10;
    const err = await pullDockerImage(ref(), { http: http(), dir: dirs.local, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_REGISTRY',
      message: `docker://127.0.0.1:${front.port}/test/app:v1: the registry says TOOMANYREQUESTS: slow down (too many requests: the registry's rate limit; try again later)` });
    expect(front.log.filter((e) => e.status === 429)).toHaveLength(1 + 3);
    expect(await readdir(dirs.local)).toEqual([]);
  });

  it('a stalled manifest times out, said once with the attempts', async () => {
    front.stall = true;
    const err = await pullDockerImage(ref(), { http: http(300), dir: dirs.data, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_HTTP',
      message: `docker://127.0.0.1:${front.port}/test/app:v1: http://127.0.0.1:${front.port}/v2/test/app/manifests/v1: timed out after 0.3 s with no data (after 3 attempts)` });
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('an abort signal ends a stalled pull at once with its reason, nothing left', async () => {
    front.stall = true;
    const started = performance.now();
    const err = await pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64', signal: AbortSignal.timeout(200) })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'TimeoutError' });
    // Long before the client's own 30 s idle timeout.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a schema 1 manifest, and a server that is no registry: one line each', async () => {
    const old = await pullDockerImage(parseDockerRef(`docker://127.0.0.1:${front.port}/test/app:old`), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' })
      .then(() => undefined, (e: unknown) => e);
    expect(old).toMatchObject({ code: 'FETCH_UNSUPPORTED',
      message: `docker://127.0.0.1:${front.port}/test/app:old: old has a Docker schema 1 manifest, obsolete since 2017 and not supported: push the image again with a current docker` });
    front.notRegistry = true;
    const none = await pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
    expect(none).toMatchObject({ code: 'FETCH_REGISTRY',
      message: `docker://127.0.0.1:${front.port}/test/app:v1: http://127.0.0.1:${front.port}/v2/ answered 404: 127.0.0.1:${front.port} does not serve the Docker registry API v2` });
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a token that expires mid-pull is renewed once and the pull goes on; a 401 after that is said', async () => {
    // The token runs out at the config, and again at the second layer.
    front.expire.add(pushed.configDigest).add(pushed.layerDigests[1]!);
    const r = await pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
    for (const [i, l] of r.layers.entries()) expect(await readFile(l.path)).toEqual(gunzipSync(image.layers[i]!.gz));
    expect(fixture.registry.tokenRequests.map((t) => t.status)).toEqual([200, 200, 200]);
    expect(front.log.filter((e) => e.status === 401 && e.path.includes('/blobs/'))).toHaveLength(2);

    front.expireAll = true;
    const err = await pullDockerImage(ref(), { http: http(), dir: dirs.local, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'FETCH_AUTH',
      message: `docker://127.0.0.1:${front.port}/test/app:v1: image config ${pushed.configDigest}: the registry says UNAUTHORIZED: token expired (the repository does not exist, or 127.0.0.1:${front.port} needs credentials: add a dockerAuth entry for it in auth.d)` });
    expect(await readdir(dirs.local)).toEqual([]);
  });

  it('a stored image is checked with a HEAD of its manifest; a registry refusing HEAD, or answering it without the digest, is asked with a GET', async () => {
    const o = { http: http(), os: 'linux', arch: 'amd64' };
    const manifests = () => front.log.filter((e) => e.path.includes('/manifests/')).map((e) => [e.method, e.status]);
    expect(await checkManifest(ref(), o, [pushed.manifestDigest])).toEqual({ current: true, digests: [pushed.manifestDigest], asked: 'HEAD' });
    expect(manifests()).toEqual([['HEAD', 200]]);
    // Another digest known: the image changed, said by the HEAD alone (the pull that follows GETs the manifest).
    front.log.length = 0;
    const other = `sha256:${'0'.repeat(64)}`;
    expect(await checkManifest(ref(), o, [other])).toEqual({ current: false, digests: [pushed.manifestDigest], asked: 'HEAD' });
    expect(manifests()).toEqual([['HEAD', 200]]);
    // A token that ran out: renewed, and the HEAD asked again.
    front.log.length = 0;
    fixture.registry.tokenRequests.length = 0;
    front.expireHead = true;
    expect(await checkManifest(ref(), o, [pushed.manifestDigest])).toEqual({ current: true, digests: [pushed.manifestDigest], asked: 'HEAD' });
    expect(manifests()).toEqual([['HEAD', 401], ['HEAD', 200]]);
    expect(fixture.registry.tokenRequests).toHaveLength(2);
    for (const mode of [405, 501, 'no-digest'] as const) {
      front.head = mode;
      front.log.length = 0;
      expect(await checkManifest(ref(), o, [pushed.manifestDigest])).toEqual({ current: true, digests: [pushed.manifestDigest], asked: 'GET' });
      expect(manifests()).toEqual([['HEAD', mode === 'no-digest' ? 200 : mode], ['GET', 200]]);
      front.log.length = 0;
      expect(await checkManifest(ref(), o, [other])).toMatchObject({ current: false, asked: 'GET' });
    }
  });

  it('a manifest list: a record with only the platform\'s digest (an earlier build\'s) is matched with a GET, one with the list\'s by a HEAD', async () => {
    const o = { http: http(), os: 'linux', arch: 'amd64' };
    const multi = parseDockerRef(`docker://127.0.0.1:${front.port}/test/app:multi`);
    const manifests = () => front.log.filter((e) => e.path.includes('/manifests/')).map((e) => [e.method, e.status]);
    const old = await checkManifest(multi, o, [pushed.manifestDigest]);
    expect(old).toEqual({ current: true, digests: [listDigest, pushed.manifestDigest], asked: 'GET' });
    expect(manifests()).toEqual([['HEAD', 200], ['GET', 200]]);
    front.log.length = 0;
    expect(await checkManifest(multi, o, old.digests)).toEqual({ current: true, digests: old.digests, asked: 'HEAD' });
    expect(manifests()).toEqual([['HEAD', 200]]);
    // What a pull records: both digests.
    const r = await pullDockerImage(multi, { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
    expect([r.referenceDigest, r.manifestDigest]).toEqual(old.digests);
  });

  it('a layer failing while another waits for its response ends the pull at once with its error, the waiting connection closed', async () => {
    // The first layer's request is read and never answered; the second layer is refused a moment later.
    front.hang.add(pushed.layerDigests[0]!);
    front.failLate.add(pushed.layerDigests[1]!);
    const started = performance.now();
    const pull = pullDockerImage(ref(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
    // Well before the client's 30 s idle timeout, which is all that ended the waiting request before.
    const err = await Promise.race([pull, new Promise((r) => setTimeout(() => r('still waiting'), 5000))]);
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_REGISTRY',
      message: `docker://127.0.0.1:${front.port}/test/app:v1: layer ${pushed.layerDigests[1]}: the registry says BLOB_UNKNOWN: blob unknown to registry` });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(front.hung).toHaveLength(1);
    // The server sees the waiting request's connection close.
    for (const deadline = Date.now() + 2000; !front.hung[0]!.closed && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    expect(front.hung[0]!.closed).toBe(true);
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('HttpClient: a signal ends a request waiting for its response with a FetchError, its connection closed', async () => {
    front.hang.add(pushed.layerDigests[0]!);
    const reason = new Error('stopped by the test');
    const ac = new AbortController();
    setTimeout(() => ac.abort(reason), 100);
    const url = new URL(`http://127.0.0.1:${front.port}/v2/test/app/blobs/${pushed.layerDigests[0]}`);
    const err = await Promise.race([http().get(url, {}, ac.signal).then(() => undefined, (e: unknown) => e),
      new Promise((r) => setTimeout(() => r('still waiting'), 5000))]);
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_HTTP', message: `${url.href}: request aborted: stopped by the test`, cause: reason });
    for (const deadline = Date.now() + 2000; !front.hung[0]?.closed && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    expect(front.hung[0]?.closed).toBe(true);
    // An already aborted signal: no request at all.
    const before = front.log.length;
    await expect(http().head(url, {}, ac.signal)).rejects.toMatchObject({ code: 'FETCH_HTTP', message: `${url.href}: request aborted: stopped by the test` });
    expect(front.log.length).toBe(before);
  });

  describe('a layer cut part way', () => {
    const bigRef = () => parseDockerRef(`docker://127.0.0.1:${front.port}/test/big:v1`);
    const layer = () => big.pushed.layerDigests[1]!;
    const gz = () => big.image.layers[1]!.gz;
    const served = () => storage.log.filter((e) => e.path.includes(layer()));

    it('continues with Range from what arrived, the token renewed on the way and never sent to storage', async () => {
      storage.cut.set(layer(), 100_000);
      storage.expireOnCut = true;
      const r = await pullDockerImage(bigRef(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
      // Every byte went through the digest and the inflate: the tar matches the diff_id the config gives.
      expect(await readFile(r.layers[1]!.path)).toEqual(gunzipSync(gz()));
      expect(r.layers[1]!.diffId).toBe(big.image.layers[1]!.diffId);
      const [first, second, ...more] = served();
      expect(more).toEqual([]);
      expect(first).toMatchObject({ status: 200, authorization: undefined });
      expect(first?.range).toBeUndefined();
      expect(second).toMatchObject({ status: 206, authorization: undefined });
      const from = Number(/^bytes=(\d+)-$/.exec(second?.range ?? '')?.[1]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThanOrEqual(100_000);
      // The registry's 401 at the resume: a new token, then the redirect to storage again.
      expect(front.log.filter((e) => e.path.endsWith(layer())).map((e) => e.status)).toEqual([307, 401, 307]);
      expect(fixture.registry.tokenRequests.map((t) => t.status)).toEqual([200, 200]);
      expect((await readdir(dirs.data)).sort()).toEqual(r.layers.map((l) => l.path.slice(dirs.data.length + 1)).sort());
    });

    it('starts over when the range is not honoured (a 200 with the whole blob)', async () => {
      storage.cut.set(layer(), 100_000);
      storage.noRange = true;
      const r = await pullDockerImage(bigRef(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' });
      expect(await readFile(r.layers[1]!.path)).toEqual(gunzipSync(gz()));
      expect(served().map((e) => [e.status, e.range !== undefined])).toEqual([[200, false], [200, true]]);
    });

    it('a rest that does not fit what arrived before is refused by the blob\'s digest, nothing left', async () => {
      storage.cut.set(layer(), 100_000);
      storage.corruptRest = true;
      const err = await pullDockerImage(bigRef(), { http: http(), dir: dirs.data, os: 'linux', arch: 'amd64' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FetchError);
      expect(err).toMatchObject({ code: 'FETCH_MISMATCH' });
      expect((err as Error).message).toMatch(new RegExp(`^docker://127\\.0\\.0\\.1:${front.port}/test/big:v1: layer ${layer()} does not match its digest \\(the registry sent ${gz().length} bytes with digest sha256:[0-9a-f]{64}\\)`));
      expect(served().map((e) => e.status)).toEqual([200, 206]);
      expect(await readdir(dirs.data)).toEqual([]);
    });
  });

  describe('a layer\'s partial copy (tmp/partial), kept for the next pull', () => {
    const bigRef = () => parseDockerRef(`docker://127.0.0.1:${front.port}/test/big:v1`);
    const layer = () => big.pushed.layerDigests[1]!;
    const gz = () => big.image.layers[1]!.gz;
    const served = () => storage.log.filter((e) => e.path.includes(layer()));
    const free = () => `${layer().replace(':', '-')}.part`;
    const pull = (dir: string, partialDir: string) =>
      pullDockerImage(bigRef(), { http: http(), dir, partialDir, os: 'linux', arch: 'amd64' }).then((r) => r, (e: unknown) => e as Error);

    it('a pull cut off every time keeps what arrived; the next pull asks only for the rest', async () => {
      const partial = join(dirs.data, 'partial');
      const first = join(dirs.data, 'first');
      await mkdir(first);
      storage.cut.set(layer(), 100_000);
      storage.down.add(layer());
      const err = await pull(first, partial);
      expect(err).toMatchObject({ code: 'FETCH_HTTP', message: expect.stringContaining(`layer ${layer()}: `) });
      expect(await readdir(first)).toEqual([]);
      // What arrived, under the name any process may take: a prefix of the blob.
      expect(await readdir(partial)).toEqual([free()]);
      const kept = await readFile(join(partial, free()));
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThanOrEqual(100_000);
      expect(kept).toEqual(gz().subarray(0, kept.length));

      storage.down.clear();
      storage.log.length = 0;
      const second = join(dirs.data, 'second');
      await mkdir(second);
      const r = await pull(second, partial);
      if (r instanceof Error) throw r;
      expect(await readFile(r.layers[1]!.path)).toEqual(gunzipSync(gz()));
      expect(served().map((e) => [e.status, e.range])).toEqual([[206, `bytes=${kept.length}-`]]);
      expect(await readdir(partial)).toEqual([]);
    });

    it('a damaged partial fails the digest and the blob is asked again from its start', async () => {
      const partial = join(dirs.data, 'partial');
      await mkdir(partial);
      await writeFile(join(partial, free()), Buffer.alloc(50_000, 7));
      const r = await pull(dirs.local, partial);
      if (r instanceof Error) throw r;
      expect(await readFile(r.layers[1]!.path)).toEqual(gunzipSync(gz()));
      expect(served().map((e) => [e.status, e.range])).toEqual([[206, 'bytes=50000-'], [200, undefined]]);
      expect(await readdir(partial)).toEqual([]);
    });

    it('a dead process\'s partial is taken over; a live one\'s is left alone', async () => {
      const partial = join(dirs.data, 'partial');
      await mkdir(partial);
      const dead = `layer-999999999.1.abc.${free()}`;
      await writeFile(join(partial, dead), gz().subarray(0, 70_000));
      let r = await pull(dirs.local, partial);
      if (r instanceof Error) throw r;
      expect(served().map((e) => [e.status, e.range])).toEqual([[206, 'bytes=70000-']]);
      expect(await readdir(partial)).toEqual([]);

      // This process is alive: its partial is its own to write, and another pull starts from nothing.
      const start = (await readFile('/proc/self/stat', 'latin1')).split(') ')[1]!.split(' ')[19]!;
      const live = `layer-${process.pid}.${start}.abc.${free()}`;
      await writeFile(join(partial, live), gz().subarray(0, 70_000));
      storage.log.length = 0;
      const again = join(dirs.local, 'again');
      await mkdir(again);
      r = await pull(again, partial);
      if (r instanceof Error) throw r;
      expect(served().map((e) => [e.status, e.range])).toEqual([[200, undefined]]);
      expect(await readdir(partial)).toEqual([live]);
      expect((await stat(join(partial, live))).size).toBe(70_000);
    });
  });
});
