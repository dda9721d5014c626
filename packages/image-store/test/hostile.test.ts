import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
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
  { name: 'traversal with ..', code: 'STORE_ACI_UNSAFE', message: /contains "\.\."/, make: (v) => rawTar([MANIFEST(), ROOT, { name: dotdots(v), content: 'pwned' }]) },
  { name: 'absolute entry name', code: 'STORE_ACI_UNSAFE', message: /absolute path/, make: (v) => rawTar([MANIFEST(), ROOT, { name: v, content: 'pwned' }]) },
  {
    name: 'file through a symlink of the same archive', code: 'STORE_ACI_UNSAFE', message: /lies under "rootfs\/a", which is a symlink/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/a', type: '2', linkname: v }, { name: 'rootfs/a/x', content: 'pwned' }]),
  },
  {
    name: 'hard link to a host file', code: 'STORE_ACI_UNSAFE', message: /absolute path/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: v }]),
  },
  {
    name: 'hard link out with ..', code: 'STORE_ACI_UNSAFE', message: /contains "\.\."/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: dotdots(v) }]),
  },
  {
    name: 'hard link to a later or missing entry', code: 'STORE_ACI_UNSAFE', message: /not an earlier file of the image/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/h', type: '1', linkname: 'rootfs/etc/shadow' }]),
  },
  {
    name: 'pax path with ..', code: 'STORE_ACI_UNSAFE', message: /contains "\.\."/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'PaxHeaders/x', type: 'x', content: paxRecord('path', dotdots(v)) }, { name: 'rootfs/innocent', content: 'pwned' }]),
  },
  {
    name: 'GNU long name that is absolute', code: 'STORE_ACI_UNSAFE', message: /absolute path/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: '././@LongLink', type: 'L', content: `${v}/${'d'.repeat(120)}\0` }, { name: 'rootfs/innocent', content: 'pwned' }]),
  },
  {
    name: 'hard link to a symlink', code: 'STORE_ACI_UNSAFE', message: /not an earlier file of the image/,
    make: (v) => rawTar([MANIFEST(), ROOT, { name: 'rootfs/l', type: '2', linkname: v }, { name: 'rootfs/h', type: '1', linkname: 'rootfs/l' }]),
  },
  {
    name: 'duplicate entries', code: 'STORE_ACI_UNSAFE', message: /duplicate entry "rootfs\/x"/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/x', content: 'a' }, { name: './rootfs/x', content: 'b' }]),
  },
  {
    name: 'two manifests', code: 'STORE_ACI_UNSAFE', message: /duplicate entry "manifest"/,
    make: () => rawTar([MANIFEST(), ROOT, MANIFEST('example.com/other')]),
  },
  {
    name: 'names outside manifest and rootfs', code: 'STORE_ACI_UNSAFE', message: /outside "manifest" and "rootfs\/"/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'etc/passwd', content: 'x' }]),
  },
  {
    name: 'truncated archive', code: 'STORE_ACI_FORMAT', message: /truncated archive/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/big', content: Buffer.alloc(5000, 1) }]).subarray(0, 2600),
  },
  {
    name: 'corrupt header', code: 'STORE_ACI_FORMAT', message: /bad checksum/,
    make: () => { const b = rawTar([MANIFEST(), ROOT, { name: 'rootfs/x', content: 'x' }]); b.writeUInt8((b[1027] ?? 0) ^ 0xff, 1027); return b; },
  },
  {
    name: 'corrupt gzip', code: 'STORE_ACI_FORMAT', message: /corrupt gzip stream/,
    make: () => { const g = gzipSync(tinyAci('example.com/x', 'x')); g.fill(0x55, 20, 60); return g; },
  },
  {
    name: 'corrupt xz', code: 'STORE_ACI_FORMAT', message: /corrupt xz stream/,
    make: () => { const g = execFileSync('xz', ['-c'], { input: tinyAci('example.com/x', 'x') }); g.fill(0x55, 30, 60); return g; },
  },
  { name: 'not an archive', code: 'STORE_ACI_FORMAT', message: /bad checksum/, make: () => Buffer.from('hello, I am not a tar file'.repeat(40)) },
  { name: 'empty input', code: 'STORE_ACI_FORMAT', message: /empty archive/, make: () => Buffer.alloc(0) },
  { name: 'no manifest', code: 'STORE_MANIFEST', message: /no "manifest" file/, make: () => rawTar([ROOT, { name: 'rootfs/x', content: 'x' }]) },
  {
    name: 'wrong manifest kind', code: 'STORE_MANIFEST', message: /manifest: acKind: must be "ImageManifest"/,
    make: () => rawTar([{ name: 'manifest', content: JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [] }) }, ROOT]),
  },
  { name: 'manifest not JSON', code: 'STORE_MANIFEST', message: /manifest: invalid JSON at line 1/, make: () => rawTar([{ name: 'manifest', content: '{nope' }, ROOT]) },
  {
    name: 'manifest with a bad name', code: 'STORE_MANIFEST', message: /name: must be an AC Identifier/,
    make: () => rawTar([{ name: 'manifest', content: manifestJson({ name: 'Bad Name!' }) }, ROOT]),
  },
  {
    name: '10 MB manifest', code: 'STORE_ACI_TOO_LARGE', message: /manifest is \d+ bytes, over the limit of 1048576/,
    make: () => rawTar([{ name: 'manifest', content: `{"acKind":"ImageManifest","x":"${'a'.repeat(10 * 1024 * 1024)}"}` }, ROOT]),
  },
  {
    name: 'manifest that is a directory', code: 'STORE_ACI_UNSAFE', message: /"manifest" is not a regular file/,
    make: () => rawTar([{ name: 'manifest/', type: '5' }, ROOT]),
  },
  {
    name: 'sparse file', code: 'STORE_ACI_FORMAT', message: /unsupported tar type "S"/,
    make: () => rawTar([MANIFEST(), ROOT, { name: 'rootfs/sparse', type: 'S' }]),
  },
  {
    name: 'gzip bomb', code: 'STORE_ACI_TOO_LARGE', message: /exceeds the limit of 8388608 bytes/,
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
