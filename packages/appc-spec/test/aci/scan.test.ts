import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { detectCompression } from '../../src/aci/compression.js';
import { scanAci } from '../../src/aci/scan.js';
import { MANIFEST_ENTRY, ROOTFS_ENTRY, appcErrorOf, busyboxLayout, childrenOf, craftTar, manifestJson, sh, sha512File, tempDir } from './helpers.js';

/** `tar -C layout -cf - manifest rootfs`, optionally piped through a compressor, written to `out`. */
function gnuTarAci(layout: string, out: string, compressor?: string[]): Buffer {
  const tar = sh('tar', ['-C', layout, '--numeric-owner', '-cf', '-', 'manifest', 'rootfs']);
  const bytes = compressor === undefined ? tar : sh(compressor[0]!, compressor.slice(1), { input: tar });
  writeFileSync(out, bytes);
  return tar;
}

function sha512(buf: Buffer): string {
  return `sha512-${sh('sha512sum', ['-'], { input: buf }).toString().split(' ')[0]}`;
}

describe('detectCompression', () => {
  it('tells gzip, bzip2 and xz by their magic bytes, and everything else is none', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(detectCompression(Buffer.from('BZx9'))).toBe('none');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a]))).toBe('none');
    expect(detectCompression(Buffer.from('manifest\0\0'))).toBe('none');
    expect(detectCompression(new Uint8Array())).toBe('none');
  }, 30_000);
});

describe('scanAci on archives made by other tools', () => {
  it('gives actool-built ACIs, plain and gzip, the image ID sha512sum gives their tar', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    sh('actool', ['build', '--no-compression', layout, join(d, 'plain.aci')]);
    sh('actool', ['build', layout, join(d, 'gz.aci')]);
    const plain = await scanAci(join(d, 'plain.aci'));
    const gz = await scanAci(join(d, 'gz.aci'));
    const gunzipped = sha512(sh('gzip', ['-dc', join(d, 'gz.aci')]));

    expect(plain.imageId).toBe(sha512File(join(d, 'plain.aci')));
    expect(plain.compression).toBe('none');
    expect(plain.uncompressedSize).toBe(statSync(join(d, 'plain.aci')).size);
    expect(gz.imageId).toBe(gunzipped);
    expect(gz.compression).toBe('gzip');
    expect(gz.compressedSize).toBe(statSync(join(d, 'gz.aci')).size);
    expect(gz.manifest.name).toBe('example.com/busybox');
    expect(Buffer.from(gz.manifestBytes).toString()).toBe(sh('actool', ['cat-manifest', join(d, 'gz.aci')]).toString().trim());
    // manifest, rootfs, rootfs/bin, busybox and three symlinks
    expect(gz.entryCount).toBe(7);
  }, 30_000);

  it.each([
    ['bzip2', ['bzip2', '-c']],
    ['xz', ['xz', '-c', '-1']],
    ['gzip', ['gzip', '-c']],
    ['none', undefined],
  ] as const)('reads a GNU tar ACI compressed with %s', async (compression, compressor) => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const tar = gnuTarAci(layout, join(d, 'x.aci'), compressor === undefined ? undefined : [...compressor]);
    const scan = await scanAci(join(d, 'x.aci'));
    expect(scan.compression).toBe(compression);
    expect(scan.imageId).toBe(sha512(tar));
    expect(scan.uncompressedSize).toBe(tar.length);
    expect(scan.entryCount).toBe(7);
  }, 30_000);

  it('reads long names in both GNU (L/K entries) and POSIX (pax) formats', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const deep = join(layout, 'rootfs', 'a'.repeat(90), 'b'.repeat(90), 'c'.repeat(90));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'f'.repeat(120)), 'x');
    execFileSync('ln', ['-s', `../${'b'.repeat(90)}/${'c'.repeat(90)}/${'f'.repeat(120)}`, join(layout, 'rootfs', 'a'.repeat(90), 'long-link')]);
    for (const format of ['gnu', 'posix']) {
      const tar = sh('tar', ['-C', layout, `--format=${format}`, '-cf', '-', 'manifest', 'rootfs']);
      const scan = await scanAci(Readable.from([tar]), { source: format });
      expect(scan.imageId).toBe(sha512(tar));
      expect(scan.entryCount).toBe(12);
    }
  }, 30_000);
});

describe('scanAci options', () => {
  it('hands every uncompressed byte to the sink, honouring backpressure', async () => {
    const d = tempDir();
    const layout = busyboxLayout(d);
    const tar = gnuTarAci(layout, join(d, 'x.aci'), ['xz', '-c', '-1']);
    const got: Buffer[] = [];
    let pending = 0;
    let maxPending = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        pending++;
        maxPending = Math.max(maxPending, pending);
        got.push(chunk);
        setTimeout(() => {
          pending--;
          cb();
        }, 1);
      },
    });
    const scan = await scanAci(join(d, 'x.aci'), { sink: slow });
    expect(Buffer.concat(got).equals(tar)).toBe(true);
    expect(maxPending).toBe(1);
    expect(scan.imageId).toBe(sha512(tar));

    const out = createWriteStream(join(d, 'blob'));
    await scanAci(createReadStream(join(d, 'x.aci')), { sink: out });
    out.end();
    await finished(out);
    expect(readFileSync(join(d, 'blob')).equals(tar)).toBe(true);
  }, 30_000);

  it('rejects with the sink error when the sink fails', async () => {
    const d = tempDir();
    gnuTarAci(busyboxLayout(d), join(d, 'x.aci'), ['gzip', '-c']);
    const failing = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('disk full'));
      },
    });
    const err = await appcErrorOf(() => scanAci(join(d, 'x.aci'), { sink: failing }));
    expect(err.code).toBe('APPC_IO');
    expect(err.message).toBe(`${join(d, 'x.aci')}: disk full`);
  }, 30_000);

  it('refuses a manifest over maxManifestSize before reading it', async () => {
    const tar = craftTar([{ name: 'manifest', data: manifestJson('example.com/big', { annotations: [{ name: 'x', value: 'y'.repeat(5000) }] }) }, ROOTFS_ENTRY()]);
    const err = await appcErrorOf(() => scanAci(Readable.from([tar]), { source: 'big.aci', maxManifestSize: 4096 }));
    expect(err.code).toBe('APPC_ACI_LAYOUT');
    expect(err.message).toMatch(/^big\.aci: manifest is \d+ bytes, over the 4096-byte limit$/);
  }, 30_000);

  it('reports an invalid manifest as the ValidationError of "<file>: manifest"', async () => {
    const tar = craftTar([{ name: 'manifest', data: manifestJson('Not A Name') }, ROOTFS_ENTRY()]);
    const err = await appcErrorOf(() => scanAci(Readable.from([tar]), { source: 'bad.aci' }));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.source).toBe('bad.aci: manifest');
    expect(err.message).toMatch(/^bad\.aci: manifest: name: /);

    const notJson = craftTar([{ name: 'manifest', data: '{"acKind":' }, ROOTFS_ENTRY()]);
    const err2 = await appcErrorOf(() => scanAci(Readable.from([notJson]), { source: 'bad.aci' }));
    expect(err2.code).toBe('APPC_INVALID_JSON');
    expect(err2.source).toBe('bad.aci: manifest');
  }, 30_000);

  it('says whether every name is already in normal form', async () => {
    const plain = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/etc/', type: 'directory' }, { name: 'rootfs/etc/a', data: 'a' }]);
    expect((await scanAci(Readable.from([plain]))).namesAsIs).toBe(true);
    const dotted = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: './rootfs/a', data: 'a' }]);
    expect((await scanAci(Readable.from([dotted]))).namesAsIs).toBe(false);
    const link = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/a', data: 'a' }, { name: 'rootfs/b', type: 'hardlink', linkname: 'rootfs//a' }]);
    expect((await scanAci(Readable.from([link]))).namesAsIs).toBe(false);
  }, 30_000);

  it('names a missing file in one line', async () => {
    const err = await appcErrorOf(() => scanAci('/nonexistent/x.aci'));
    expect(err.code).toBe('APPC_IO');
    expect(err.message).toBe('/nonexistent/x.aci: no such file or directory');
  }, 30_000);

  it('stops on abort with APPC_ABORTED, destroys the input and reaps the decompressor', async () => {
    // An xz stream whose input stalls half way: only the abort can end the scan.
    const tar = craftTar([MANIFEST_ENTRY(), ROOTFS_ENTRY(), { name: 'rootfs/blob', data: Buffer.alloc(1 << 20, 7) }]);
    const xz = sh('xz', ['-c', '-1'], { input: tar });
    const stalled = new Readable({ read() {} });
    stalled.push(xz.subarray(0, xz.length >> 1));
    const ac = new AbortController();
    const p = scanAci(stalled, { signal: ac.signal, source: 'stalled.aci' });
    await new Promise((r) => setTimeout(r, 100));
    expect(childrenOf(process.pid)).toContain('xz');
    ac.abort();
    const err = await appcErrorOf(() => p);
    expect(err.code).toBe('APPC_ABORTED');
    expect(err.message).toBe('stalled.aci: aborted');
    expect(stalled.destroyed).toBe(true);
    expect(childrenOf(process.pid)).not.toContain('xz');
  }, 30_000);
});
