import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '@rkt/image-store';
import { dockerToAci, fetchImage, FetchError, HttpClient, parseDockerRef, pullDockerImage, type FetchOptions } from '../src/index.js';
import { makeDirs } from './helpers.js';
import { makeImage, makeLayer, useRegistry, type BuiltLayer } from './registry.js';

// fetchImage on a docker:// reference: pulled, converted straight into the store's import (no ACI file), rendered.
const fixture = useRegistry();
let base: BuiltLayer;
let big: BuiltLayer;
let dirs: Awaited<ReturnType<typeof makeDirs>>;
let store: Store;

beforeAll(async () => {
  base = await makeLayer({ 'etc/hello': 'hello\n', 'bin/app': '#!/bin/sh\necho hi\n' });
  // 32 MB (of a 32 KB blob) that the import takes a while to write.
  big = await makeLayer({ 'data/big': 'b'.repeat(32 << 20) });
}, 60_000);

beforeEach(async () => {
  dirs = await makeDirs();
  store = await openStore({ dir: dirs.data });
});

afterEach(async () => {
  await dirs.cleanup();
});

const opts = (): FetchOptions => ({
  store, localConfigDir: dirs.local, systemConfigDir: dirs.system, insecure: { skipImageCheck: true, allowHttp: true },
});

/** What a fetch leaves in the store's tmp: its pull directory, its import, an extraction. */
function work(): string[] {
  return readdirSync(store.layout.tmp).filter((n) => /^(docker|import|render|extract)-/.test(n));
}

describe('fetchImage of a docker:// image', () => {
  it('stores the image the file conversion gives (same ID), with its remote record, as the latest of its name, rendered', async () => {
    const top = await makeLayer({ 'etc/motd': 'streamed\n' });
    const pushed = await fixture.registry.pushImage('test/stream', 'latest', makeImage([base, top]));
    const raw = `docker://${fixture.registry.host}/test/stream`;
    const r = await fetchImage(raw, opts());
    expect(r.downloaded).toBe(true);
    expect(r.treeId).toBeDefined();
    const tree = await store.tree(r.treeId!);
    expect(readFileSync(join(tree!.rootfs, 'etc', 'motd'), 'utf8')).toBe('streamed\n');
    expect(readFileSync(join(tree!.rootfs, 'etc', 'hello'), 'utf8')).toBe('hello\n');
    expect((await store.get(r.id))?.latest).toBe(true);
    const remote = await store.getRemote(`docker://${fixture.registry.host}/test/stream:latest`);
    expect(remote?.imageId).toBe(r.id);
    expect(remote?.etag).toBe(pushed.manifestDigest);
    expect(work()).toEqual([]);

    // The same pull converted to a file and imported from it: the same image ID.
    const ref = parseDockerRef(raw);
    const pulled = await pullDockerImage(ref, { http: new HttpClient({ allowHttp: true }), dir: dirs.local, os: 'linux', arch: 'amd64' });
    const aci = join(dirs.local, 'image.aci');
    await dockerToAci({
      registry: ref.registry, repository: ref.repository, ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
      manifestDigest: pulled.manifestDigest, configDigest: pulled.configDigest, config: pulled.config, layers: pulled.layers,
      originalName: raw.slice('docker://'.length),
    }, aci);
    const other = await openStore({ dir: join(dirs.root, 'other') });
    expect((await other.importAci(aci)).id).toBe(r.id);
  });

  it('a conversion failing half way (the second layer changed on disk while the first streams in): an error naming the layer; no image, record or temp file', async () => {
    // The second layer is cut once 8 MB of the first reached the store's blob.
    // Three members: ./, etc/, etc/second.
    const small = await makeLayer({ 'etc/second': 'two\n' });
    const pushed = await fixture.registry.pushImage('test/halfway', 'v1', makeImage([big, small]));
    const secondFile = `sha256-${pushed.layerDigests[1]!.slice('sha256:'.length)}.tar`;
    let cut = false;
    const watch = setInterval(() => {
      if (cut) return;
      const names = readdirSync(store.layout.tmp);
      const imp = names.find((n) => n.startsWith('import-'));
      const pull = names.find((n) => n.startsWith('docker-'));
      if (imp === undefined || pull === undefined) return;
      const blob = join(store.layout.tmp, imp, 'aci');
      const layer = join(store.layout.tmp, pull, secondFile);
      if (!existsSync(blob) || !existsSync(layer) || statSync(blob).size < 8 << 20) return;
      writeFileSync(layer, '');
      cut = true;
    }, 1);
    const err = await fetchImage(`docker://${fixture.registry.host}/test/halfway:v1`, opts()).then(() => undefined, (e: unknown) => e).finally(() => clearInterval(watch));
    expect(cut).toBe(true);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).code).toBe('FETCH_DOCKER_CONVERT');
    expect((err as FetchError).message).toBe(`layer ${pushed.layerDigests[1]}: has 0 members on the second read, 3 on the first`);
    expect(await store.list()).toEqual([]);
    expect(await store.listRemotes()).toEqual([]);
    expect(work()).toEqual([]);
  }, 60_000);

  it("an import the store refuses half way (its size limit): the store's words, the converter not left waiting; nothing kept", async () => {
    await fixture.registry.pushImage('test/toolarge', 'v1', makeImage([base, big]));
    store = await openStore({ dir: dirs.data, maxUncompressedSize: 4 << 20 });
    const err = await fetchImage(`docker://${fixture.registry.host}/test/toolarge:v1`, opts()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).code).toBe('FETCH_MISMATCH');
    expect((err as FetchError).message).toMatch(new RegExp(`^docker://${fixture.registry.host}/test/toolarge:v1: .*4194304`));
    expect(await store.list()).toEqual([]);
    expect(await store.listRemotes()).toEqual([]);
    expect(work()).toEqual([]);
  }, 30_000);

  it('an image config the converter refuses before any byte: said in one line, the import not left waiting; nothing kept', async () => {
    const pushed = await fixture.registry.pushImage('test/badconfig', 'v1', makeImage([base], { config: { ExposedPorts: { 'http/tcp': {} } } }));
    const err = await fetchImage(`docker://${fixture.registry.host}/test/badconfig:v1`, opts()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).code).toBe('FETCH_DOCKER_CONVERT');
    expect((err as FetchError).message).toBe(`image config ${pushed.configDigest}: config.ExposedPorts["http/tcp"]: "http" is not a port number`);
    expect(await store.list()).toEqual([]);
    expect(work()).toEqual([]);
  }, 30_000);
});
