import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { makeAci, MANIFEST, manifestJson, noise, rawTar, tempDir } from './helpers.js';

// `importAci(..., {extract: true})` extracts the rootfs while it imports (rkt fetch then renders without
// reading the blob again). The tree must be the one a plain render makes, and nothing may be left when the
// import is refused.

const FILES = {
  'etc/hostname': 'app\n',
  'bin/tool': { type: 'file' as const, content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'bin/link': { type: 'symlink' as const, target: 'tool' },
  'bin/hard': { type: 'hardlink' as const, target: 'bin/tool' },
  'var/empty': { type: 'dir' as const, mode: 0o700 },
  'data/big': noise(3 << 20, 7),
};

/** tar processes whose command line names `dir` (an early extraction still running would be one). */
function tarsIn(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => /\btar\b/.test(l) && l.includes(dir));
}

/** Bytes of `file` in the page cache (util-linux's fincore). */
function cached(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

describe('early extraction during import', () => {
  it('writes the large files after the first 8 MiB itself, around the page cache, with the metadata tar gives them', async () => {
    const work = tempDir();
    const layout = join(work, 'layout');
    const root = join(layout, 'rootfs');
    mkdirSync(join(root, 'aaa'), { recursive: true });
    mkdirSync(join(root, 'data', 'x'), { recursive: true, mode: 0o755 });
    mkdirSync(join(root, 'implicit', 'deep'), { recursive: true });
    writeFileSync(join(layout, 'manifest'), manifestJson({ name: 'example.com/direct' }));
    // 9 MiB first: the feed is handed to the thread after 8 MiB, and the files named after that are its own.
    writeFileSync(join(root, 'aaa', 'lead'), noise(9 << 20, 1));
    const big1 = noise((3 << 20) + 100, 2);
    writeFileSync(join(root, 'data', 'x', 'big1'), big1);
    writeFileSync(join(root, 'data', 'x', 'big2'), noise(2 << 20, 3));
    linkSync(join(root, 'data', 'x', 'big1'), join(root, 'data', 'x', 'link'));
    symlinkSync('big2', join(root, 'data', 'x', 'sym'));
    writeFileSync(join(root, 'data', 'x', 'small'), 'small\n');
    writeFileSync(join(root, 'data', 'x', 'xattr'), noise(1 << 20, 4));
    execFileSync('setfattr', ['-n', 'user.rkt', '-v', 'kept', join(root, 'data', 'x', 'xattr')]);
    writeFileSync(join(root, 'implicit', 'deep', 'big3'), noise((1 << 20) + 512, 5));
    chownSync(join(root, 'data'), 1234, 5678);
    chmodSync(join(root, 'data'), 0o750);
    chownSync(join(root, 'data', 'x', 'big1'), 1234, 5678);
    chmodSync(join(root, 'data', 'x', 'big1'), 0o4755);
    chmodSync(join(root, 'data', 'x', 'big2'), 0o444);
    utimesSync(join(root, 'data', 'x', 'big1'), 1e9, 981158400.25);
    // In this order, and without entries for implicit/ and implicit/deep/ (tar makes those with modes of its own).
    const entries = ['manifest', 'rootfs', 'rootfs/aaa', 'rootfs/aaa/lead', 'rootfs/data', 'rootfs/data/x', 'rootfs/data/x/big1',
      'rootfs/data/x/big2', 'rootfs/data/x/link', 'rootfs/data/x/sym', 'rootfs/data/x/small', 'rootfs/data/x/xattr', 'rootfs/implicit/deep/big3'];
    const aci = join(work, 'direct.aci');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--no-recursion', '-C', layout, '-cf', aci, ...entries]);
    execFileSync('gzip', ['-q', '-f', aci]);

    const early = await openStore({ dir: join(work, 'early') });
    const imported = await early.importAci(`${aci}.gz`, { extract: true });
    expect(imported.extracted).toBeDefined();
    const tree = await early.render(imported.id, { extracted: imported.extracted });
    expect(existsSync(imported.extracted!)).toBe(false);
    const plain = await openStore({ dir: join(work, 'plain') });
    const ref = await plain.render((await plain.importAci(`${aci}.gz`)).id);
    expect(tree.contentHash).toBe(ref.contentHash);
    expect((await early.verifyTree(tree.id, { repair: false })).ok).toBe(true);

    for (const rel of ['data', 'data/x', 'implicit', 'implicit/deep', ...entries.slice(3).map((e) => e.slice('rootfs/'.length))]) {
      const a = lstatSync(join(tree.rootfs, rel));
      const b = lstatSync(join(ref.rootfs, rel));
      expect({ rel, mode: a.mode, uid: a.uid, gid: a.gid, size: a.size }).toEqual({ rel, mode: b.mode, uid: b.uid, gid: b.gid, size: b.size });
      if (a.isFile()) {
        expect(Math.floor(a.mtimeMs)).toBe(Math.floor(b.mtimeMs));
        expect(readFileSync(join(tree.rootfs, rel)).equals(readFileSync(join(ref.rootfs, rel)))).toBe(true);
      }
    }
    expect(lstatSync(join(tree.rootfs, 'data/x/big1')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(tree.rootfs, 'data/x/big1')).mtimeMs).toBe(981158400250);
    expect(lstatSync(join(tree.rootfs, 'data/x/link')).ino).toBe(lstatSync(join(tree.rootfs, 'data/x/big1')).ino);
    expect(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.rkt', join(tree.rootfs, 'data/x/xattr')], { encoding: 'utf8' })).toBe('kept');
    // Written around the page cache: the thread's files are not in it (the content checks above read them, so
    // this is checked on a second import's tree, hashed without reading its files).
    const again = await openStore({ dir: join(work, 'again') });
    const second = await again.importAci(`${aci}.gz`, { extract: true });
    const x = join(second.extracted!, 'rootfs', 'data', 'x');
    expect(cached(join(x, 'big1'))).toBe(0);
    expect(cached(join(x, 'big2'))).toBe(0);
    // tar's: the leading file (fed before the thread started), the one with extended attributes, the one under
    // directories the archive does not list.
    expect(cached(join(second.extracted!, 'rootfs', 'implicit', 'deep', 'big3'))).toBeGreaterThan(0);
    expect(cached(join(x, 'xattr'))).toBeGreaterThan(0);
    expect(readdirSync(join(work, 'early', 'cas', 'tmp'))).toEqual([]);
  }, 120_000);

  it('renders the same tree as a plain render, taking the extraction over and leaving nothing in tmp/', async () => {
    const work = tempDir();
    const aci = makeAci(work, { name: 'example.com/app', files: FILES, compression: 'gzip' });
    const early = await openStore({ dir: join(work, 'early') });
    const plain = await openStore({ dir: join(work, 'plain') });

    const imported = await early.importAci(aci, { extract: true });
    expect(imported.extracted).toBeDefined();
    expect(readFileSync(join(imported.extracted!, 'rootfs/etc/hostname'), 'utf8')).toBe('app\n');
    const tree = await early.render(imported.id, { extracted: imported.extracted });
    // Adopted: the directory was renamed into the tree store, not copied.
    expect(existsSync(imported.extracted!)).toBe(false);

    const ref = await plain.render((await plain.importAci(aci)).id);
    expect(tree.contentHash).toMatch(/^tree2-sha256-/);
    expect(tree.contentHash).toBe(ref.contentHash);
    expect(tree.size).toBe(ref.size);
    expect((await early.verifyTree(tree.id, { repair: false })).ok).toBe(true);
    expect(readdirSync(join(work, 'early', 'cas', 'tmp'))).toEqual([]);
  });

  it('feeds tar to the end when tar lags behind the import (thousands of small files, then megabytes)', async () => {
    const work = tempDir();
    const files: Record<string, string | Buffer> = {};
    for (let i = 0; i < 3000; i++) files[`usr/share/d${i % 30}/f${i}.txt`] = `${i}\n`.repeat(1 + (i % 40));
    for (let i = 0; i < 4; i++) files[`data/big${i}`] = noise(3 << 20, 11 + i);
    const aci = makeAci(work, { name: 'example.com/app', files, compression: 'gzip' });
    const store = await openStore({ dir: join(work, 'early') });
    const imported = await store.importAci(aci, { extract: true });
    // Not taken over when tar did not get the whole archive: the render would extract it again.
    expect(imported.extracted).toBeDefined();
    const tree = await store.render(imported.id, { extracted: imported.extracted });
    expect(existsSync(imported.extracted!)).toBe(false);
    const plain = await openStore({ dir: join(work, 'plain') });
    expect(tree.contentHash).toBe((await plain.render((await plain.importAci(aci)).id)).contentHash);
    expect(readFileSync(join(tree.rootfs, 'usr/share/d7/f2977.txt'), 'utf8')).toBe('2977\n'.repeat(1 + (2977 % 40)));
  }, 120_000);

  it('hashes the tree with the files\' digests from the archive, without reading the tree back', async () => {
    const work = tempDir();
    const size = 24 << 20;
    const aci = makeAci(work, { name: 'example.com/app', files: { 'data/big': noise(size, 3), 'etc/a': 'a' }, compression: 'gzip' });
    const store = await openStore({ dir: join(work, 'data') });
    // Bytes this process read (read(2) and pread(2), page cache included), and its reaped children (tar).
    const rchar = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
    const before = rchar();
    const imported = await store.importAci(aci, { extract: true });
    const tree = await store.render(imported.id, { extracted: imported.extracted });
    const read = rchar() - before;
    // The archive, the blob as it grows and tar's stdin: about 3 x 24 MiB. Reading the tree back for its hash
    // made it 4 x.
    expect(read).toBeGreaterThan(2.5 * size);
    expect(read).toBeLessThan(3.5 * size);
    expect((await store.verifyTree(tree.id, { repair: false })).ok).toBe(true);
  }, 60_000);

  it('renders from the blob when a name is not in normal form (the extraction is not the tree as is)', async () => {
    const work = tempDir();
    const aci = join(work, 'dotted.aci');
    writeFileSync(aci, rawTar([MANIFEST('example.com/dotted'), { name: './rootfs/', type: '5', mode: 0o755 }, { name: './rootfs/etc//hostname', content: 'dotted\n' }]));
    const store = await openStore({ dir: join(work, 'data') });
    const imported = await store.importAci(aci, { extract: true });
    const tree = await store.render(imported.id, { extracted: imported.extracted });
    expect(readFileSync(join(tree.rootfs, 'etc/hostname'), 'utf8')).toBe('dotted\n');
    expect((await store.verifyTree(tree.id, { repair: false })).ok).toBe(true);
    expect(readdirSync(join(work, 'data', 'cas', 'tmp'))).toEqual([]);
  });

  it('removes an extraction the render cannot use (an image with a dependency)', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const base = await store.importAci(makeAci(work, { name: 'example.com/base', files: { 'etc/os': 'base' } }));
    const app = await store.importAci(makeAci(work, {
      name: 'example.com/app', files: { 'etc/app': 'app' }, dependencies: [{ imageName: 'example.com/base', imageID: base.id }],
    }), { extract: true });
    expect(app.extracted).toBeDefined();
    const tree = await store.render(app.id, { extracted: app.extracted });
    expect(readFileSync(join(tree.rootfs, 'etc/os'), 'utf8')).toBe('base');
    expect(readFileSync(join(tree.rootfs, 'etc/app'), 'utf8')).toBe('app');
    expect(existsSync(app.extracted!)).toBe(false);
    expect(readdirSync(join(work, 'data', 'cas', 'tmp'))).toEqual([]);
  });

  it('leaves no extraction, no tar and no file behind when an image refused late had files written by the feeder\'s thread', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const files = { 'aaa/lead': noise(9 << 20, 21), 'data/big': noise(3 << 20, 22), 'data/big2': noise(2 << 20, 23) };
    const aci = makeAci(work, { name: 'example.com/app', files, compression: 'gzip' });
    await expect(store.importAci(aci, { extract: true, check: () => { throw new Error('signature does not match'); } }))
      .rejects.toThrow(/signature does not match/);

    // The bad entry after 8 MiB and a large file: the thread has written that file when the scan refuses.
    const unsafe = join(work, 'unsafe.aci');
    writeFileSync(unsafe, rawTar([MANIFEST(), { name: 'rootfs/', type: '5', mode: 0o755 }, { name: 'rootfs/lead', content: noise(9 << 20, 24) },
      { name: 'rootfs/big', content: noise(2 << 20, 25) }, { name: 'rootfs/../../escape', content: 'pwned' }]));
    await expect(store.importAci(unsafe, { extract: true })).rejects.toMatchObject({ code: 'STORE_ACI_UNSAFE' });

    expect(await store.list()).toEqual([]);
    expect(readdirSync(join(dir, 'cas', 'tmp'))).toEqual([]);
    expect(existsSync(join(work, 'escape'))).toBe(false);
    expect(tarsIn(dir)).toEqual([]);
  }, 60_000);

  it('leaves no extraction and no tar behind when the check refuses the image or the archive is unsafe', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const aci = makeAci(work, { name: 'example.com/app', files: FILES, compression: 'gzip' });
    await expect(store.importAci(aci, { extract: true, check: () => { throw new Error('signature does not match'); } }))
      .rejects.toThrow(/signature does not match/);

    const unsafe = join(work, 'unsafe.aci');
    writeFileSync(unsafe, rawTar([MANIFEST(), { name: 'rootfs/', type: '5', mode: 0o755 }, { name: 'rootfs/ok', content: 'x'.repeat(4096) }, { name: 'rootfs/../../escape', content: 'pwned' }]));
    await expect(store.importAci(unsafe, { extract: true })).rejects.toMatchObject({ code: 'STORE_ACI_UNSAFE' });

    expect(await store.list()).toEqual([]);
    expect(readdirSync(join(dir, 'cas', 'tmp'))).toEqual([]);
    expect(existsSync(join(work, 'escape'))).toBe(false);
    expect(tarsIn(dir)).toEqual([]);
  });
});
