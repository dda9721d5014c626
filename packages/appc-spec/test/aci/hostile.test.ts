import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { AppcErrorCode } from '../../src/errors.js';
import { scanAci } from '../../src/aci/scan.js';
import { BLOCK } from '../../src/aci/tar-header.js';
import { MANIFEST_ENTRY, ROOTFS_ENTRY, appcErrorOf, craftTar, sh, tempDir } from './helpers.js';
import type { CraftEntry } from './helpers.js';

const M = MANIFEST_ENTRY;
const R = ROOTFS_ENTRY;
const file = (name: string, data = 'x'): CraftEntry => ({ name, data });
const symlink = (name: string, linkname: string): CraftEntry => ({ name, type: 'symlink', linkname });
const hardlink = (name: string, linkname: string): CraftEntry => ({ name, type: 'hardlink', linkname });
const dir = (name: string): CraftEntry => ({ name, type: 'directory' });

async function scanBytes(bytes: Buffer, source = 'hostile.aci') {
  return scanAci(Readable.from([bytes]), { source });
}

/** Sets a raw header field of the entry header at `at` and fixes its checksum, for what encodeHeader refuses to write. */
function patchHeader(tar: Buffer, at: number, offset: number, bytes: string): Buffer {
  const out = Buffer.from(tar);
  out.write(bytes, at + offset, 'latin1');
  out.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += out[at + i]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  return out;
}

describe('layout rules refuse hostile archives', () => {
  const cases: Array<[string, CraftEntry[], AppcErrorCode, RegExp]> = [
    ['a ".." path', [M(), R(), file('rootfs/../../etc/passwd')], 'APPC_ACI_LAYOUT', /entry "rootfs\/..\/..\/etc\/passwd" at offset \d+: has a ".." component/],
    ['a leading ".." path', [M(), R(), file('../evil')], 'APPC_ACI_LAYOUT', /has a ".." component/],
    ['an absolute name', [M(), R(), file('/etc/passwd')], 'APPC_ACI_LAYOUT', /entry "\/etc\/passwd" .*has an absolute name/],
    ['a symlink climbing out of rootfs', [M(), R(), symlink('rootfs/evil', '../../etc')], 'APPC_ACI_LAYOUT', /symlink to "..\/..\/etc", which points outside rootfs/],
    ['a nested symlink climbing out', [M(), R(), dir('rootfs/a'), symlink('rootfs/a/evil', 'x/../../../b')], 'APPC_ACI_LAYOUT', /points outside rootfs/],
    ['a symlink with an empty target', [M(), R(), symlink('rootfs/empty', '')], 'APPC_ACI_LAYOUT', /empty target/],
    ['a hardlink to a host path', [M(), R(), hardlink('rootfs/shadow', '/etc/shadow')], 'APPC_ACI_LAYOUT', /hardlink to "\/etc\/shadow", which has an absolute name/],
    ['a hardlink climbing out', [M(), R(), hardlink('rootfs/shadow', 'rootfs/../../etc/shadow')], 'APPC_ACI_LAYOUT', /has a ".." component/],
    ['a hardlink to the manifest', [M(), R(), hardlink('rootfs/m', 'manifest')], 'APPC_ACI_LAYOUT', /not under rootfs/],
    ['a hardlink to a later entry', [M(), R(), hardlink('rootfs/a', 'rootfs/b'), file('rootfs/b')], 'APPC_ACI_LAYOUT', /not an earlier entry/],
    ['a hardlink to a directory', [M(), R(), dir('rootfs/d'), hardlink('rootfs/h', 'rootfs/d')], 'APPC_ACI_LAYOUT', /which is a directory/],
    ['an entry under a symlink', [M(), R(), symlink('rootfs/etc', '/etc'), file('rootfs/etc/passwd')], 'APPC_ACI_LAYOUT', /under "rootfs\/etc", which is a symlink/],
    ['an entry under a relative symlink', [M(), R(), dir('rootfs/d'), symlink('rootfs/d/up', '..'), file('rootfs/d/up/x')], 'APPC_ACI_LAYOUT', /which is a symlink/],
    ['a symlink replacing a directory in use', [M(), R(), file('rootfs/d/f'), symlink('rootfs/d', '/etc')], 'APPC_ACI_LAYOUT', /replacing a directory/],
    ['an entry under a regular file', [M(), R(), file('rootfs/f'), file('rootfs/f/g')], 'APPC_ACI_LAYOUT', /which is a file, not a directory/],
    ['a duplicate file', [M(), R(), file('rootfs/a'), file('./rootfs/a')], 'APPC_ACI_LAYOUT', /entry ".\/rootfs\/a" .*duplicate/],
    ['a duplicate manifest', [M(), R(), M()], 'APPC_ACI_LAYOUT', /entry "manifest" .*duplicate/],
    ['a name outside manifest and rootfs', [M(), R(), file('etc/passwd')], 'APPC_ACI_LAYOUT', /outside manifest and rootfs/],
    ['a rootfs look-alike', [M(), R(), file('rootfsx/a')], 'APPC_ACI_LAYOUT', /entry "rootfsx\/a" .*outside manifest and rootfs/],
    ['a manifest that is a directory', [dir('manifest'), R()], 'APPC_ACI_LAYOUT', /manifest must be a regular file/],
    ['a manifest that is a symlink', [symlink('manifest', '/etc/passwd'), R()], 'APPC_ACI_LAYOUT', /manifest must be a regular file/],
    ['a rootfs that is a symlink', [M(), symlink('rootfs', '/')], 'APPC_ACI_LAYOUT', /rootfs must be a directory/],
    ['no manifest', [R(), file('rootfs/a')], 'APPC_ACI_NO_MANIFEST', /no manifest in the archive/],
    ['no rootfs', [M()], 'APPC_ACI_LAYOUT', /no rootfs directory entry/],
    ['a symlink entry carrying data', [M(), R(), { name: 'rootfs/l', type: 'symlink', linkname: 'a', data: 'hidden entry' }], 'APPC_ACI_LAYOUT', /symlink entry must not carry data/],
  ];
  it.each(cases)('refuses %s', async (_what, entries, code, message) => {
    const err = await appcErrorOf(() => scanBytes(craftTar(entries)));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(/^hostile\.aci: /);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  }, 30_000);

  it('accepts the safe neighbours of those cases', async () => {
    const ok = craftTar([
      dir('.'),
      M(),
      R(),
      dir('rootfs/a'),
      symlink('rootfs/a/up', '..'),
      symlink('rootfs/a/sibling', '../b/c'),
      symlink('rootfs/abs', '/etc/passwd'),
      symlink('rootfs/root', '/../../..'),
      file('rootfs/b/c'),
      hardlink('rootfs/a/hard', './rootfs/b/c'),
      hardlink('rootfs/hard-to-link', 'rootfs/abs'),
    ]);
    const scan = await scanBytes(ok);
    expect(scan.entryCount).toBe(11);
  }, 30_000);

  it('checks names set by pax and GNU long-name headers, not only the ustar field', async () => {
    const long = `rootfs/${'d'.repeat(200)}/../../../../etc/cron.d/x`;
    const err = await appcErrorOf(() => scanBytes(craftTar([M(), R(), file(long)])));
    expect(err.code).toBe('APPC_ACI_LAYOUT');
    expect(err.message).toContain('has a ".." component');

    // A GNU 'L' entry naming an absolute path, followed by an innocent-looking header.
    const gnuName = Buffer.from('/etc/cron.d/evil\0');
    const longHeader = craftTar([{ name: '././@LongLink', data: gnuName }], { end: false });
    const patched = patchHeader(longHeader, 0, 156, 'L');
    const tar = Buffer.concat([craftTar([M(), R()], { end: false }), patched, craftTar([file('rootfs/innocent')])]);
    const err2 = await appcErrorOf(() => scanBytes(tar));
    expect(err2.code).toBe('APPC_ACI_LAYOUT');
    expect(err2.message).toContain('entry "/etc/cron.d/evil"');
  }, 30_000);

  it('refuses entry types an ACI cannot hold', async () => {
    const tar = craftTar([M(), R(), file('rootfs/sparse')]);
    const at = tar.indexOf('rootfs/sparse') - 0;
    const err = await appcErrorOf(() => scanBytes(patchHeader(tar, at, 156, 'S')));
    expect(err.code).toBe('APPC_ACI_LAYOUT');
    expect(err.message).toMatch(/unsupported tar entry type 'S'/);
  }, 30_000);
});

describe('corrupt and truncated archives', () => {
  const valid = () => craftTar([M(), R(), file('rootfs/data', 'y'.repeat(3000)), file('rootfs/z', 'z')]);

  it('refuses a truncated plain tar, inside data and inside a header', async () => {
    const tar = valid();
    const inData = tar.subarray(0, tar.indexOf('yyyy') + 100);
    const e1 = await appcErrorOf(() => scanBytes(inData));
    expect(e1.code).toBe('APPC_ACI_CORRUPT');
    expect(e1.message).toMatch(/^hostile\.aci: archive is truncated inside entry "rootfs\/data"/);
    const inHeader = tar.subarray(0, 3 * BLOCK + 100);
    const e2 = await appcErrorOf(() => scanBytes(inHeader));
    expect(e2.code).toBe('APPC_ACI_CORRUPT');
    expect(e2.message).toMatch(/truncated inside a header at offset 1536/);
  }, 30_000);

  it('refuses a header with a bad checksum, a malformed number and a file that is not a tar', async () => {
    const tar = valid();
    const flipped = Buffer.from(tar);
    flipped[BLOCK * 2 + 10] = flipped[BLOCK * 2 + 10]! ^ 0x01;
    const e1 = await appcErrorOf(() => scanBytes(flipped));
    expect(e1.code).toBe('APPC_ACI_CORRUPT');
    expect(e1.message).toBe('hostile.aci: bad tar header checksum at offset 1024');

    const badSize = patchHeader(tar, BLOCK * 2, 124, '0000000z000\0');
    const e2 = await appcErrorOf(() => scanBytes(badSize));
    expect(e2.code).toBe('APPC_ACI_CORRUPT');
    expect(e2.message).toBe('hostile.aci: header at offset 1024: malformed size field');

    const e3 = await appcErrorOf(() => scanBytes(Buffer.from('#!/bin/sh\necho this is not an image\n'.repeat(40))));
    expect(e3.code).toBe('APPC_ACI_CORRUPT');
    expect(e3.message).toBe('hostile.aci: not a tar archive (bad header checksum at offset 0)');

    const e4 = await appcErrorOf(() => scanBytes(Buffer.alloc(0)));
    expect(e4.code).toBe('APPC_ACI_CORRUPT');
    expect(e4.message).toBe('hostile.aci: is empty, not an ACI');
  }, 30_000);

  it.each([
    ['gzip', ['gzip', '-c'], /^hostile\.aci: gzip data is truncated/],
    ['bzip2', ['bzip2', '-c'], /^hostile\.aci: bzip2: Compressed file ends unexpectedly/],
    ['xz', ['xz', '-c'], /^hostile\.aci: xz: .*Unexpected end of input/],
  ])('refuses a truncated %s archive with APPC_COMPRESSION', async (_name, tool, message) => {
    const packed = sh(tool[0]!, tool.slice(1), { input: valid() });
    const err = await appcErrorOf(() => scanBytes(packed.subarray(0, packed.length - 20)));
    expect(err.code).toBe('APPC_COMPRESSION');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  }, 30_000);

  it.each([
    // The gzip CRC32 trailer, bzip2's combined stream CRC and the xz stream footer: all of the tar decodes
    // fine, only the compression layer can tell.
    ['gzip', ['gzip', '-c'], (b: Buffer) => b.length - 6, /^hostile\.aci: corrupt gzip data/],
    ['bzip2', ['bzip2', '-c'], (b: Buffer) => b.length - 2, /^hostile\.aci: bzip2: /],
    ['xz', ['xz', '-c'], (b: Buffer) => b.length - 3, /^hostile\.aci: xz: /],
  ] as const)('refuses a corrupt %s archive with APPC_COMPRESSION', async (_name, tool, where, message) => {
    const packed = Buffer.from(sh(tool[0], [...tool.slice(1)], { input: valid() }));
    const at = where(packed);
    packed[at] = packed[at]! ^ 0x55;
    const err = await appcErrorOf(() => scanBytes(packed));
    expect(err.code).toBe('APPC_COMPRESSION');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  }, 30_000);

  it('names compressions the spec does not allow', async () => {
    // A zstd frame header (magic, then frame descriptor): detection goes by the magic alone.
    const zst = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00]), valid().subarray(0, 600)]);
    const err = await appcErrorOf(() => scanBytes(zst));
    expect(err.code).toBe('APPC_COMPRESSION');
    expect(err.message).toBe('hostile.aci: zstd compression is not allowed for an ACI (only gzip, bzip2 or xz)');
  }, 30_000);

  it('says which Debian package to install when the decompressor is missing', async () => {
    const d = tempDir();
    const aci = join(d, 'x.aci');
    writeFileSync(aci, sh('xz', ['-c'], { input: valid() }));
    mkdirSync(join(d, 'empty-path'));
    const saved = process.env.PATH;
    process.env.PATH = join(d, 'empty-path');
    try {
      const err = await appcErrorOf(() => scanAci(aci));
      expect(err.code).toBe('APPC_TOOL_MISSING');
      expect(err.message).toBe(`${aci}: cannot decompress: the \`xz\` program is not installed (Debian package xz-utils)`);
    } finally {
      process.env.PATH = saved;
    }
  }, 30_000);
});

describe('truncation inside extended headers', () => {
  it('names the extended header, not the entry before it', async () => {
    const tar = craftTar([M(), R(), file(`rootfs/${'n'.repeat(300)}`)]);
    // Cut inside the pax record block that carries the long name.
    const paxData = tar.indexOf('path=');
    const err = await appcErrorOf(() => scanBytes(tar.subarray(0, paxData + 20)));
    expect(err.code).toBe('APPC_ACI_CORRUPT');
    expect(err.message).toMatch(/^hostile\.aci: archive is truncated inside an extended header \(\d+ bytes missing\)$/);
  });
});
