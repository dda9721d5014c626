import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openStore, StoreError } from '../src/index.js';
import { makeAci, manifestJson, sha512Id, tempDir, tinyAci } from './helpers.js';

describe('importAci', () => {
  it('stores every compression under the hash of the uncompressed archive', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const spec = { name: 'example.com/comp', files: { 'etc/hello': 'hello world\n'.repeat(1000) } };
    const plain = makeAci(work, spec);
    const expected = sha512Id(readFileSync(plain));
    const kinds = ['gzip', 'bzip2', 'xz'] as const;
    expect((await store.importAci(plain)).id).toBe(expected);
    for (const compression of kinds) {
      const packed = join(work, `c.${compression}`);
      writeFileSync(packed, execFileSync(compression, ['-c'], { input: readFileSync(plain) }));
      const res = await store.importAci(packed);
      expect(res.compression).toBe(compression);
      expect(res.id).toBe(expected);
      expect(res.added).toBe(false);
    }
    expect((await store.list()).map((i) => i.id)).toEqual([expected]);
  });

  it('keeps the manifest byte for byte and records name, labels and sizes', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const aci = makeAci(work, { name: 'example.com/app', labels: { version: '1.2', arch: 'amd64', os: 'linux' }, files: { a: 'x' } });
    const res = await store.importAci(aci);
    const img = await store.resolve(res.id);
    expect(img.name).toBe('example.com/app');
    expect(img.labels).toEqual([{ name: 'version', value: '1.2' }, { name: 'arch', value: 'amd64' }, { name: 'os', value: 'linux' }]);
    expect(img.blobSize).toBe(readFileSync(aci).length);
    expect(img.latest).toBe(false);
    expect((await store.manifest(res.id)).toString()).toBe(manifestJson({ name: 'example.com/app', labels: { version: '1.2', arch: 'amd64', os: 'linux' } }));
  });

  it('imports the same image twice as a no-op that refreshes its times', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const bytes = tinyAci('example.com/twice', 'x');
    const first = await store.importAci(Readable.from([bytes]));
    const before = await store.resolve(first.id);
    await new Promise((r) => setTimeout(r, 15));
    const second = await store.importAci(Readable.from([bytes]), { latest: true });
    const after = await store.resolve(first.id);
    expect(first.added).toBe(true);
    expect(second.added).toBe(false);
    expect(after.importedAt).toBeGreaterThan(before.importedAt);
    expect(after.lastUsedAt).toBeGreaterThan(before.lastUsedAt);
    expect(after.latest).toBe(true);
    expect(readdirSync(join(work, 'data/cas/images'))).toEqual([first.id]);
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);
  });

  it('importing a stored image again replaces a blob damaged on disk (bytes changed, truncated, deleted)', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const aci = makeAci(work, { name: 'example.com/heal', files: { 'big': Buffer.alloc(200_000, 7), small: 'x' } });
    const { id } = await store.importAci(aci);
    const imgDir = join(work, 'data/cas/images', id);
    const blob = join(imgDir, 'aci');
    const good = readFileSync(blob);
    const damages: [string, () => void][] = [
      ['a byte changed in place', () => { const b = Buffer.from(good); b.writeUInt8(b.readUInt8(100_000) ^ 1, 100_000); writeFileSync(blob, b); }],
      ['truncated', () => truncateSync(blob, 4096)],
      ['deleted', () => rmSync(blob)],
      ['manifest changed', () => writeFileSync(join(imgDir, 'manifest'), '{}')],
    ];
    for (const [what, damage] of damages) {
      damage();
      const again = await store.importAci(aci);
      expect(again.added, what).toBe(false);
      expect(sha512Id(readFileSync(blob)), what).toBe(id);
      expect((await store.verifyImage(id)).ok, what).toBe(true);
      expect((await store.manifest(id)).toString(), what).toBe(manifestJson({ name: 'example.com/heal' }));
      const tree = await store.render(id);
      expect(readFileSync(join(tree.rootfs, 'big')).equals(Buffer.alloc(200_000, 7)), what).toBe(true);
      await store.gc({ gracePeriodMs: Number.MAX_SAFE_INTEGER });
    }
    expect(readdirSync(imgDir).sort()).toEqual(['aci', 'manifest']);
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);
  });

  it('imports an ACI built by actool and exports it with the image ID as its sha512', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const layout = join(work, 'layout');
    execFileSync('mkdir', ['-p', join(layout, 'rootfs/bin')]);
    writeFileSync(join(layout, 'manifest'), manifestJson({ name: 'example.com/actool', labels: { version: '0.1' } }));
    writeFileSync(join(layout, 'rootfs/bin/tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const aci = join(work, 'actool.aci');
    execFileSync('actool', ['build', layout, aci]);
    const res = await store.importAci(aci);
    expect(res.compression).toBe('gzip');
    const out = join(work, 'export.aci');
    await store.exportImage('example.com/actool:0.1', out);
    expect(sha512Id(readFileSync(out))).toBe(res.id);
    await expect(store.exportImage(res.id, out)).rejects.toMatchObject({ code: 'STORE_TARGET' });
    await store.exportImage(res.id, out, { overwrite: true });
    expect(sha512Id(readFileSync(out))).toBe(res.id);
  });

  it('records a remote atomically with the image and lets the fetcher refresh it', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const res = await store.importAci(Readable.from([tinyAci('example.com/remote', 'r')]), {
      remote: { url: 'https://example.com/r.aci', signatureUrl: 'https://example.com/r.aci.asc', etag: '"abc"', cacheMaxAge: 60 },
    });
    const rec = await store.getRemote('https://example.com/r.aci');
    expect(rec).toMatchObject({ imageId: res.id, etag: '"abc"', cacheMaxAge: 60, signatureUrl: 'https://example.com/r.aci.asc' });
    await store.putRemote({ url: 'https://example.com/r.aci', imageId: res.id, etag: '"def"' });
    expect((await store.getRemote('https://example.com/r.aci'))?.etag).toBe('"def"');
    await expect(store.putRemote({ url: 'u', imageId: `sha512-${'0'.repeat(128)}` })).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    await store.remove(res.id);
    expect(await store.listRemotes()).toEqual([]);
  });

  it('reports a missing input file as an I/O error naming it', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const missing = join(work, 'nope.aci');
    const err = await store.importAci(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'STORE_IO' });
    expect((err as Error).message).toContain(missing);
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);
  });

  it('follows appc for label names: AC Identifiers such as example.com/x are accepted, and kept', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const res = await store.importAci(Readable.from([tinyAci('example.com/labelled', 'l', { 'example.com/x': 'y', version: '2' })]));
    expect(res.labels).toEqual([{ name: 'example.com/x', value: 'y' }, { name: 'version', value: '2' }]);
    expect((await store.resolve({ name: 'example.com/labelled', labels: [{ name: 'example.com/x', value: 'y' }] })).id).toBe(res.id);
    const tree = await store.render(res.id);
    expect(readFileSync(join(tree.rootfs, 'data'), 'utf8')).toBe('l');
  });

  it('refuses zstd, which the appc spec does not allow, naming it', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const packed = join(work, 'x.aci.zst');
    writeFileSync(packed, execFileSync('zstd', ['-c', '-q'], { input: tinyAci('example.com/z', 'z') }));
    const err = await store.importAci(packed).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORE_ACI_FORMAT' });
    expect((err as Error).message).toMatch(/zstd/);
    expect(await store.list()).toEqual([]);
  });
});
