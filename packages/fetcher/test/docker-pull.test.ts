import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FetchError, HttpClient, parseDockerRef, pullDockerImage, resolveManifestDigest, type PullOptions } from '../src/index.js';
import { makeDirs } from './helpers.js';
import { makeImage, makeLayer, sha256, useRegistry, type BuiltImage, type PushedImage } from './registry.js';

// A plain-http registry, as `--insecure-options=http` reaches one.
const fixture = useRegistry();
let image: BuiltImage;
let pushed: PushedImage;
let dirs: Awaited<ReturnType<typeof makeDirs>>;

beforeAll(async () => {
  const base = await makeLayer({ 'etc/hello': 'hello\n', 'etc/os-release': 'ID=test\n' });
  const top = await makeLayer({ 'bin/app': '#!/bin/sh\necho hi\n' });
  image = makeImage([base, top], { config: { Entrypoint: ['/bin/app'], WorkingDir: '/srv', User: '1000', ExposedPorts: { '80/tcp': {} } } });
  pushed = await fixture.registry.pushImage('test/app', 'v1', image);
}, 30_000);

beforeEach(async () => {
  dirs = await makeDirs();
});

afterEach(async () => {
  await dirs.cleanup();
});

const http = new HttpClient({ allowHttp: true });
const opts = (o: Partial<PullOptions> = {}): PullOptions => ({ http, dir: dirs.data, os: 'linux', arch: 'amd64', ...o });
const ref = (s: string) => parseDockerRef(`docker://${fixture.registry.host}/${s}`);

async function failure(p: Promise<unknown>): Promise<FetchError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FetchError);
  expect((err as Error).message).not.toContain('\n');
  return err as FetchError;
}

describe('pull from a real registry', () => {
  it('by tag: the manifest, the config and each layer, verified, in the directory as a plain tar', async () => {
    const r = await pullDockerImage(ref('test/app:v1'), opts());
    expect(r.manifestDigest).toBe(pushed.manifestDigest);
    expect(r.configDigest).toBe(pushed.configDigest);
    expect(r.config).toEqual(image.config);
    expect((r.config.config as Record<string, unknown>).Entrypoint).toEqual(['/bin/app']);
    expect(r.layers.map((l) => [l.digest, l.size, l.servedMediaType, l.mediaType, l.diffId])).toEqual(image.layers.map((l) =>
      [sha256(l.gz), l.gz.length, 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.v1.tar', l.diffId]));
    for (const [i, l] of r.layers.entries()) {
      // Inflated while it downloaded: the converter reads it once and seeks past contents.
      expect(await readFile(l.path)).toEqual(gunzipSync(image.layers[i]!.gz));
      expect(l.path.startsWith(dirs.data)).toBe(true);
    }
    // Nothing but the layers: no temp files left behind.
    expect((await readdir(dirs.data)).sort()).toEqual(r.layers.map((l) => l.path.slice(dirs.data.length + 1)).sort());
  });

  it('by digest, and the digest a tag resolves to', async () => {
    const byDigest = await pullDockerImage(ref(`test/app@${pushed.manifestDigest}`), opts());
    expect(byDigest.manifestDigest).toBe(pushed.manifestDigest);
    expect(byDigest.layers.map((l) => l.digest)).toEqual(pushed.layerDigests);
    expect(await resolveManifestDigest(ref('test/app:v1'), opts())).toBe(pushed.manifestDigest);
  });

  it('a manifest list: the entry for the host platform (appc arch names too), or a clear refusal listing what it has', async () => {
    const amd = makeImage([await makeLayer({ 'arch': 'amd64\n' })], { arch: 'amd64' });
    const arm = makeImage([await makeLayer({ 'arch': 'arm64\n' })], { arch: 'arm64' });
    const amdPushed = await fixture.registry.pushImage('test/multi', undefined, amd);
    const armPushed = await fixture.registry.pushImage('test/multi', undefined, arm);
    const listDigest = await fixture.registry.pushList('test/multi', 'latest', [
      { image: armPushed, os: 'linux', architecture: 'arm64', variant: 'v8' },
      { image: amdPushed, os: 'linux', architecture: 'amd64' },
    ]);
    const r = await pullDockerImage(ref('test/multi'), opts());
    expect(r.manifestDigest).toBe(amdPushed.manifestDigest);
    expect(r.config.architecture).toBe('amd64');
    expect(await readFile(r.layers[0]!.path)).toEqual(gunzipSync(amd.layers[0]!.gz));
    // appc's aarch64 is Docker's arm64; the list's own digest works as a reference as well.
    const a = await pullDockerImage(ref(`test/multi@${listDigest}`), opts({ arch: 'aarch64', dir: dirs.local }));
    expect(a.manifestDigest).toBe(armPushed.manifestDigest);
    expect(a.config.architecture).toBe('arm64');
    expect(await resolveManifestDigest(ref('test/multi'), opts({ arch: 'aarch64' }))).toBe(armPushed.manifestDigest);
    const err = await failure(pullDockerImage(ref('test/multi'), opts({ arch: 's390x', dir: dirs.system })));
    expect(err.code).toBe('FETCH_REGISTRY');
    expect(err.message).toBe(`docker://${fixture.registry.host}/test/multi: the manifest list has no image for linux/s390x (it has linux/arm64/v8, linux/amd64)`);
    expect(await readdir(dirs.system)).toEqual([]);
  });

  it('a blob corrupted in the registry: refused naming the layer, and no file left in the directory', async () => {
    const good = await makeLayer({ 'etc/tamper-base': 'base\n' });
    const bad = await makeLayer({ 'etc/tampered': 'x'.repeat(100_000) });
    const p = await fixture.registry.pushImage('test/tampered', 'v1', makeImage([good, bad]));
    // Same size, one byte changed in the middle: only the digest can tell.
    const file = fixture.registry.blobFile(p.layerDigests[1]!);
    const fh = await open(file, 'r+');
    const at = Math.floor(bad.gz.length / 2);
    await fh.write(Buffer.from([bad.gz[at]! ^ 0xff]), 0, 1, at);
    await fh.close();
    const err = await failure(pullDockerImage(ref('test/tampered:v1'), opts()));
    expect(err.code).toBe('FETCH_MISMATCH');
    expect(err.message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/tampered:v1: layer ${p.layerDigests[1]} does not match its digest \\(the registry sent ${bad.gz.length} bytes with digest sha256:[0-9a-f]{64}\\): its copy is corrupt or was tampered with$`));
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a manifest corrupted in the registry: refused by digest and by tag', async () => {
    const p = await fixture.registry.pushImage('test/badmanifest', 'v1', makeImage([await makeLayer({ 'etc/m': 'm\n' })]));
    // Still valid JSON: one hex digit of the config's digest changed, so only the manifest's digest can tell.
    const file = fixture.registry.blobFile(p.manifestDigest);
    const text = await readFile(file, 'utf8');
    const hex = p.configDigest.slice(7);
    await writeFile(file, text.replace(hex, (hex[0] === '0' ? '1' : '0') + hex.slice(1)));
    const byDigest = await failure(pullDockerImage(ref(`test/badmanifest@${p.manifestDigest}`), opts()));
    expect(byDigest.code).toBe('FETCH_MISMATCH');
    expect(byDigest.message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/badmanifest@${p.manifestDigest}: manifest ${p.manifestDigest} does not match its digest \\(the registry sent one with digest sha256:[0-9a-f]{64}\\)$`));
    const byTag = await failure(pullDockerImage(ref('test/badmanifest:v1'), opts()));
    expect(byTag.code).toBe('FETCH_MISMATCH');
    expect(byTag.message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/badmanifest:v1: the manifest for v1 does not match the digest the registry gives for it \\(${p.manifestDigest}; the bytes sent have sha256:[0-9a-f]{64}\\)$`));
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a layer the registry lost: one line naming it, in the registry\'s words', async () => {
    const p = await fixture.registry.pushImage('test/lost', 'v1', makeImage([await makeLayer({ 'etc/lost': 'lost\n' })]));
    await rm(fixture.registry.blobFile(p.layerDigests[0]!));
    const err = await failure(pullDockerImage(ref('test/lost:v1'), opts()));
    expect(err).toMatchObject({ code: 'FETCH_REGISTRY',
      message: `docker://${fixture.registry.host}/test/lost:v1: layer ${p.layerDigests[0]}: the registry says BLOB_UNKNOWN: blob unknown to registry` });
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a progress bar per layer on a terminal', async () => {
    const out: string[] = [];
    await pullDockerImage(ref('test/app:v1'), opts({ progress: { write: (s: string) => out.push(s), isTTY: true, columns: 100 } }));
    // The last frame: the cursor back up over the two lines, redrawn complete, in the manifest's order.
    const bar = (i: number) => {
      const l = image.layers[i]!;
      return `\\rDownloading layer ${i + 1}/2 ${sha256(l.gz).slice(7, 19)}: \\[=+\\] ${l.gz.length} B / ${l.gz.length} B\\x1b\\[K\\n`;
    };
    expect(out.at(-1)).toMatch(new RegExp(`^\\x1b\\[2A${bar(0)}${bar(1)}$`));
  });

  it('downloads layers at once, each on its own line, and gives them in the manifest\'s order', async () => {
    // The biggest first: in the order they finish, it would come last.
    const files = await Promise.all([8 << 20, 1000, 2000, 3000, 4000].map((n, i) => makeLayer({ [`etc/l${i}`]: randomBytes(n).toString('base64') })));
    const many = makeImage(files);
    await fixture.registry.pushImage('test/many', 'v1', many);
    const out: string[] = [];
    const r = await pullDockerImage(ref('test/many:v1'), opts({ progress: { write: (s: string) => out.push(s), isTTY: true, columns: 100 } }));
    expect(r.layers.map((l) => l.digest)).toEqual(files.map((l) => sha256(l.gz)));
    // Buffer.equals: vitest's deep equality takes minutes over megabytes.
    for (const [i, l] of r.layers.entries()) expect((await readFile(l.path)).equals(gunzipSync(files[i]!.gz))).toBe(true);
    // One at a time, the first layer would be done before any other line appeared: here another runs beside it.
    const first = `Downloading layer 1/5 ${sha256(files[0]!.gz).slice(7, 19)}`;
    const overlapping = out.filter((frame) => {
      const lines = frame.split('\n').filter((x) => x !== '');
      const m = / (\S+ \S+) \/ (\S+ \S+)\x1b/.exec(lines.find((x) => x.includes(first)) ?? '');
      return lines.length >= 2 && m !== null && m[1] !== m[2];
    });
    expect(overlapping.length).toBeGreaterThan(0);
    expect((await readdir(dirs.data)).length).toBe(5);
  });

  it('a blob the manifest names twice: downloaded once, one file for both', async () => {
    const a = await makeLayer({ 'etc/twice': 'a\n' });
    const b = await makeLayer({ 'etc/between': 'b\n' });
    await fixture.registry.pushImage('test/twice', 'v1', makeImage([a, b, a]));
    const r = await pullDockerImage(ref('test/twice:v1'), opts());
    expect(r.layers.map((l) => l.digest)).toEqual([a, b, a].map((l) => sha256(l.gz)));
    expect(r.layers[2]!.path).toBe(r.layers[0]!.path);
    expect((await readdir(dirs.data)).length).toBe(2);
  });

  it('a layer whose tar does not match the config\'s diff_id: one line naming both digests, nothing kept', async () => {
    const a = await makeLayer({ 'etc/a': 'a\n' });
    const b = await makeLayer({ 'etc/b': 'b\n' });
    // Layer b's diff_id said to be a's: the blob matches its digest, but its contents are not the config's.
    const img = makeImage([a, b]);
    const rootfs = img.config.rootfs as { diff_ids: string[] };
    const p = await fixture.registry.pushImage('test/diffid', 'v1', { layers: img.layers, config: { ...img.config, rootfs: { ...rootfs, diff_ids: [a.diffId, a.diffId] } } });
    const err = await failure(pullDockerImage(ref('test/diffid:v1'), opts()));
    expect(err).toMatchObject({ code: 'FETCH_MISMATCH',
      message: `docker://${fixture.registry.host}/test/diffid:v1: layer ${p.layerDigests[1]} does not match the image config's diff_id ${a.diffId} (its uncompressed tar has digest ${b.diffId})` });
    expect(await readdir(dirs.data)).toEqual([]);
    // Too few diff_ids: refused before any download.
    await fixture.registry.pushImage('test/diffid', 'short', { layers: img.layers, config: { ...img.config, rootfs: { ...rootfs, diff_ids: [a.diffId] } } });
    const short = await failure(pullDockerImage(ref('test/diffid:short'), opts()));
    expect(short.code).toBe('FETCH_REGISTRY');
    expect(short.message).toMatch(/: image config sha256:[0-9a-f]{64} has 1 rootfs.diff_ids for the manifest's 2 layers$/);
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('a blob that matches its digest but is not a good gzip: one line naming the layer, nothing kept', async () => {
    const l = await makeLayer({ 'etc/g': 'g'.repeat(50_000) });
    const cfg = Buffer.from(JSON.stringify(makeImage([l]).config));
    const cfgDigest = await fixture.registry.pushBlob('test/badgz', cfg);
    const garbled = Buffer.concat([l.gz.subarray(0, 10), Buffer.alloc(200, 0xff)]);
    for (const [tag, blob] of [['cut', l.gz.subarray(0, l.gz.length - 20)], ['garbled', garbled]] as const) {
      const digest = await fixture.registry.pushBlob('test/badgz', blob);
      await fixture.registry.pushManifest('test/badgz', tag, {
        schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: cfg.length, digest: cfgDigest },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: blob.length, digest }],
      }, 'application/vnd.docker.distribution.manifest.v2+json');
      const err = await failure(pullDockerImage(ref(`test/badgz:${tag}`), opts()));
      expect(err.code).toBe('FETCH_DOCKER_CONVERT');
      expect(err.message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/badgz:${tag}: layer ${digest}: ${tag === 'cut' ? 'gzip data is truncated' : 'corrupt gzip data'} \\(`));
      expect(await readdir(dirs.data)).toEqual([]);
    }
  });

  it('one layer failing stops the others and leaves no file, finished or not', async () => {
    const big = await makeLayer({ 'etc/big': randomBytes(8 << 20).toString('base64') });
    const small = await makeLayer({ 'etc/small': 'small\n' });
    const lost = await makeLayer({ 'etc/lost2': 'lost\n' });
    const p = await fixture.registry.pushImage('test/partial', 'v1', makeImage([big, small, lost]));
    await rm(fixture.registry.blobFile(p.layerDigests[2]!));
    const err = await failure(pullDockerImage(ref('test/partial:v1'), opts()));
    expect(err.message).toBe(`docker://${fixture.registry.host}/test/partial:v1: layer ${p.layerDigests[2]}: the registry says BLOB_UNKNOWN: blob unknown to registry`);
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('an unknown tag or repository: what the registry says, in one line', async () => {
    const tag = await failure(pullDockerImage(ref('test/app:nope'), opts()));
    expect(tag).toMatchObject({ code: 'FETCH_REGISTRY', message: `docker://${fixture.registry.host}/test/app:nope: the registry says MANIFEST_UNKNOWN: manifest unknown` });
    const repo = await failure(pullDockerImage(ref('nope:latest'), opts()));
    // The CNCF registry says the same for a repository it has never heard of (Docker Hub answers 401 instead).
    expect(repo).toMatchObject({ code: 'FETCH_REGISTRY', message: `docker://${fixture.registry.host}/nope:latest: the registry says MANIFEST_UNKNOWN: manifest unknown` });
    expect(await readdir(dirs.data)).toEqual([]);
  });

  it('plain http is refused without --insecure-options=http', async () => {
    const err = await failure(pullDockerImage(ref('test/app:v1'), opts({ http: new HttpClient() })));
    expect(err.code).toBe('FETCH_HTTP');
    expect(err.message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/app:v1: https://${fixture.registry.host}/v2/: .*\\(the registry may speak plain http: --insecure-options=http allows it\\)$`));
  });

  it('zstd and non-distributable layers are refused by name before any download', async () => {
    const l = await makeLayer({ 'etc/z': 'z\n' });
    const layerDigest = await fixture.registry.pushBlob('test/odd', l.gz);
    const cfg = Buffer.from(JSON.stringify(makeImage([l]).config));
    const cfgDigest = await fixture.registry.pushBlob('test/odd', cfg);
    const manifest = (mediaType: string) => ({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: cfg.length, digest: cfgDigest },
      layers: [{ mediaType, size: l.gz.length, digest: layerDigest }],
    });
    await fixture.registry.pushManifest('test/odd', 'zstd', manifest('application/vnd.oci.image.layer.v1.tar+zstd'), 'application/vnd.oci.image.manifest.v1+json');
    await fixture.registry.pushManifest('test/odd', 'foreign', manifest('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), 'application/vnd.oci.image.manifest.v1+json');
    await fixture.registry.pushManifest('test/odd', 'oci', manifest('application/vnd.oci.image.layer.v1.tar+gzip'), 'application/vnd.oci.image.manifest.v1+json');
    const z = await failure(pullDockerImage(ref('test/odd:zstd'), opts()));
    expect(z).toMatchObject({ code: 'FETCH_UNSUPPORTED', message: `docker://${fixture.registry.host}/test/odd:zstd: layer ${layerDigest} is a zstd-compressed layer: not supported (gzip or uncompressed layers are)` });
    const f = await failure(pullDockerImage(ref('test/odd:foreign'), opts()));
    expect(f.code).toBe('FETCH_UNSUPPORTED');
    expect(f.message).toContain(`layer ${layerDigest} is a non-distributable (foreign) layer`);
    expect(await readdir(dirs.data)).toEqual([]);
    // The same layer in an OCI manifest as tar+gzip is fine.
    const oci = await pullDockerImage(ref('test/odd:oci'), opts());
    expect(oci.layers.map((x) => [x.servedMediaType, x.mediaType])).toEqual([['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar']]);
  });

  it('an unreachable registry: one line naming the URL', async () => {
    const err = await failure(pullDockerImage(parseDockerRef('docker://127.0.0.1:1/x'), opts()));
    expect(err.code).toBe('FETCH_HTTP');
    // Plain http is allowed here: both tries are said, https first.
    expect(err.message).toBe('docker://127.0.0.1:1/x: https://127.0.0.1:1/v2/: connect ECONNREFUSED 127.0.0.1:1; over plain http: http://127.0.0.1:1/v2/: connect ECONNREFUSED 127.0.0.1:1 (after 3 attempts)');
  });
});
