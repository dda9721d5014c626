import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openStore, StoreError, type StoreErrorCode } from '../src/index.js';
import { MANIFEST, manifestJson, paxRecord, rawTar, tempDir, tinyAci } from './helpers.js';

interface Case {
  readonly name: string;
  readonly code: StoreErrorCode;
  readonly message: RegExp;
  /** Builds the archive; `victim` is an absolute path outside the store that must stay untouched. */
  readonly make: (victim: string) => Buffer;
}

const ROOT = { name: 'rootfs/', type: '5' as const, mode: 0o755 };
const dotdots = (victim: string) => `rootfs/../../../../../../../../../..${victim}`;

const corpus: Case[] = [
  { name: 'traversal with ..', code: 'STORE_ACI_UNSAFE', message: /has a "\.\." component/, make: (v) => rawTar([MANIFEST(), ROOT, { name: dotdots(v), content: 'pwned' }]) },
  { name: 'absolute entry name', code: 'STORE_ACI_UNSAFE', message: /has an absolute name/, make: (v) => rawTar([MANIFEST(), ROOT, { name: v, content: 'pwned' }]) },
  {
    name: 'file through a symlink of the same archive', code: 'STORE_ACI_UNSAFE', message: /is under "rootfs\/a", which is a symlink in this archive/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/a', type: '2', linkname: v }, { name: 'rootfs/a/x', content: 'pwned' }]),
  },
  {
    name: 'hard link to a host file', code: 'STORE_ACI_UNSAFE', message: /is a hardlink to .*victim", which has an absolute name/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: v }]),
  },
  {
    name: 'hard link out with ..', code: 'STORE_ACI_UNSAFE', message: /is a hardlink to .*, which has a "\.\." component/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: dotdots(v) }]),
  },
  {
    name: 'hard link to a later or missing entry', code: 'STORE_ACI_UNSAFE', message: /is a hardlink to "rootfs\/etc\/shadow", which is not an earlier entry of the archive/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: 'rootfs/etc/shadow' }]),
  },
  {
    name: 'pax path with ..', code: 'STORE_ACI_UNSAFE', message: /has a "\.\." component/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'PaxHeaders/x', type: 'x', content: paxRecord('path', dotdots(v)) }, { name: 'rootfs/innocent', content: 'pwned' }]),
  },
  {
    name: 'GNU long name that is absolute', code: 'STORE_ACI_UNSAFE', message: /has an absolute name/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: '././@LongLink', type: 'L', content: `${v}/${'d'.repeat(120)}\0` }, { name: 'rootfs/innocent', content: 'pwned' }]),
  },
  {
    name: 'duplicate entries', code: 'STORE_ACI_UNSAFE', message: /entry "\.\/rootfs\/x" at offset \d+: is a duplicate entry/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/x', content: 'a' }, { name: './rootfs/x', content: 'b' }]),
  },
  {
    name: 'two manifests', code: 'STORE_ACI_UNSAFE', message: /entry "manifest" at offset \d+: is a duplicate entry/,
    make: () => rawTar([MANIFEST(), ROOT, MANIFEST('example.com/other')]),
  },
  {
    name: 'names outside manifest and rootfs', code: 'STORE_ACI_UNSAFE', message: /entry "etc\/passwd" at offset \d+: is outside manifest and rootfs\//,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'etc/passwd', content: 'x' }]),
  },
  {
    name: 'truncated archive', code: 'STORE_ACI_FORMAT', message: /archive is truncated inside entry "rootfs\/big"/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/big', content: Buffer.alloc(5000, 1) }]).subarray(0, 2600),
  },
  {
    name: 'corrupt header', code: 'STORE_ACI_FORMAT', message: /bad tar header checksum at offset 1024/,
    make: () => { const b = rawTar([MANIFEST(), ROOT, { name: 'rootfs/x', content: 'x' }]); b.writeUInt8((b[1027] ?? 0) ^ 0xff, 1027); return b; },
  },
  {
    // The spec allows no other compression; the store follows it rather than decoding what it could.
    name: 'zstd', code: 'STORE_ACI_FORMAT', message: /zstd/,
    make: () => execFileSync('zstd', ['-c', '-q'], { input: tinyAci('example.com/x', 'x') }),
  },
  {
    name: 'corrupt gzip', code: 'STORE_ACI_FORMAT', message: /corrupt gzip data/,
    make: () => { const g = gzipSync(tinyAci('example.com/x', 'x')); g.fill(0x55, 20, 60); return g; },
  },
  {
    name: 'corrupt xz', code: 'STORE_ACI_FORMAT', message: /xz: .*Compressed data is corrupt/,
    make: () => { const g = execFileSync('xz', ['-c'], { input: tinyAci('example.com/x', 'x') }); g.fill(0x55, 30, 60); return g; },
  },
  { name: 'not an archive', code: 'STORE_ACI_FORMAT', message: /not a tar archive \(bad header checksum at offset 0\)/, make: () => Buffer.from('hello, I am not a tar file'.repeat(40)) },
  { name: 'empty input', code: 'STORE_ACI_FORMAT', message: /is empty, not an ACI/, make: () => Buffer.alloc(0) },
  { name: 'no manifest', code: 'STORE_MANIFEST', message: /no manifest in the archive/, make: () => rawTar([ROOT, { name: 'rootfs/x', content: 'x' }]) },
  {
    name: 'wrong manifest kind', code: 'STORE_MANIFEST', message: /manifest: acKind: must be "ImageManifest", got "PodManifest"/,
    make: () => rawTar([{ name: 'manifest', content: JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [] }) }, ROOT]),
  },
  { name: 'manifest not JSON', code: 'STORE_MANIFEST', message: /manifest: invalid JSON at line 1/, make: () => rawTar([{ name: 'manifest', content: '{nope' }, ROOT]) },
  {
    name: 'manifest with a bad name', code: 'STORE_MANIFEST', message: /name: must be an AC Identifier/,
    make: () => rawTar([{ name: 'manifest', content: manifestJson({ name: 'Bad Name!' }) }, ROOT]),
  },
  {
    name: '10 MB manifest', code: 'STORE_ACI_UNSAFE', message: /manifest is \d+ bytes, over the 1048576-byte limit/,
    make: () => rawTar([{ name: 'manifest', content: `{"acKind":"ImageManifest","x":"${'a'.repeat(10 * 1024 * 1024)}"}` }, ROOT]),
  },
  {
    name: 'manifest that is a directory', code: 'STORE_ACI_UNSAFE', message: /manifest must be a regular file, not a directory/,
    make: () => rawTar([{ name: 'manifest/', type: '5' }, ROOT]),
  },
  {
    name: 'sparse file', code: 'STORE_ACI_UNSAFE', message: /unsupported tar entry type 'S'/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/sparse', type: 'S' }]),
  },
  {
    name: 'gzip bomb', code: 'STORE_ACI_TOO_LARGE', message: /uncompressed archive exceeds the 8388608-byte limit/,
    make: () => gzipSync(rawTar([MANIFEST(), ROOT, { name: 'rootfs/zeros', content: Buffer.alloc(64 * 1024 * 1024) }]), { level: 9 }),
  },
];

describe('hostile ACIs', () => {
  for (const c of corpus) {
    it(`${c.name}: clear error, nothing written outside, no trace in the store`, async () => {
      const work = tempDir();
      const victim = join(work, 'victim');
      const dataDir = join(work, 'data');
      const store = await openStore({ dir: dataDir, maxUncompressedSize: 8 * 1024 * 1024 });
      const input = join(work, 'hostile.aci');
      writeFileSync(input, c.make(victim));
      const err = await store.importAci(input).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: c.code });
      expect((err as Error).message).toMatch(c.message);
      expect((err as Error).message).toContain(input);
      expect((err as Error).message).not.toContain('\n');
      expect(existsSync(victim)).toBe(false);
      expect(readdirSync(work).sort()).toEqual(['data', 'hostile.aci']);
      expect(await store.list()).toEqual([]);
      for (const sub of ['images', 'trees', 'tmp', 'trash']) expect(readdirSync(join(dataDir, 'cas', sub))).toEqual([]);
    });
  }
});

describe('hard link to a symlink', () => {
  // appc allows a hard link to any earlier non-directory entry; tar links the symlink itself (linkat without
  // AT_SYMLINK_FOLLOW), so the rendered tree gets a second name for the link and nothing outside is touched.
  it('is accepted and renders as a second name of the link, not of its target', async () => {
    const work = tempDir();
    const victim = join(work, 'victim');
    writeFileSync(victim, 'host file');
    const store = await openStore({ dir: join(work, 'data') });
    const input = join(work, 'link.aci');
    writeFileSync(input, rawTar([MANIFEST(), ROOT, { name: 'rootfs/l', type: '2', linkname: victim }, { name: 'rootfs/h', type: '1', linkname: 'rootfs/l' }]));
    const { id } = await store.importAci(input);
    const tree = await store.render(id);
    expect(lstatSync(join(tree.rootfs, 'h')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(tree.rootfs, 'h')).ino).toBe(lstatSync(join(tree.rootfs, 'l')).ino);
    expect(lstatSync(victim).nlink).toBe(1);
  });
});
