import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, truncateSync, writeFileSync, chmodSync, chownSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { hashTree } from '../src/tree-hash.js';
import { makeAci, manifestJson, rawTar, tempDir } from './helpers.js';

const ROOT = { name: 'rootfs/', type: '5' as const, mode: 0o755 };

async function setup(): Promise<{ work: string; store: Store }> {
  const work = tempDir();
  return { work, store: await openStore({ dir: join(work, 'data') }) };
}

describe('render', () => {
  it('extracts dependencies first, depth-first, later layers overwriting earlier ones', async () => {
    const { work, store } = await setup();
    const base = await store.importAci(makeAci(work, { name: 'example.com/base', labels: { version: '1' }, files: { 'etc/os': 'base', 'etc/base-only': 'b', 'etc/who': 'base' } }));
    const mid = await store.importAci(makeAci(work, {
      name: 'example.com/mid', files: { 'etc/who': 'mid', 'etc/mid-only': 'm' },
      dependencies: [{ imageName: 'example.com/base', labels: { version: '1' } }],
    }));
    const extra = await store.importAci(makeAci(work, { name: 'example.com/extra', files: { 'etc/who': 'extra' } }));
    const app = await store.importAci(makeAci(work, {
      name: 'example.com/app', files: { 'etc/os': 'app' },
      dependencies: [{ imageName: 'example.com/mid', imageID: mid.id }, { imageName: 'example.com/extra' }],
    }));
    const tree = await store.render('example.com/app');
    expect(tree.layers).toEqual([base.id, mid.id, extra.id, app.id]);
    expect(tree.id).toMatch(/^deps-sha512-[0-9a-f]{128}$/);
    const f = (p: string) => readFileSync(join(tree.rootfs, p), 'utf8');
    expect([f('etc/os'), f('etc/who'), f('etc/base-only'), f('etc/mid-only')]).toEqual(['app', 'extra', 'b', 'm']);
    expect(JSON.parse(readFileSync(join(tree.path, 'manifest'), 'utf8')).name).toBe('example.com/app');
    expect((await store.resolve(app.id)).treeSize).toBe(tree.size);
    // Rendering again finds the same tree.
    expect((await store.render(app.id)).renderedAt).toBe(tree.renderedAt);
    expect((await store.trees()).map((t) => t.id)).toEqual([tree.id]);
  });

  it('renderAll finds rendered trees and renders missing ones, in order, referencing all of them for the pod', async () => {
    const { work, store } = await setup();
    const a = await store.importAci(makeAci(work, { name: 'example.com/a', files: { 'etc/who': 'a' } }));
    const b = await store.importAci(makeAci(work, { name: 'example.com/b', files: { 'etc/who': 'b' } }));
    const first = await store.render(a.id);
    const podDir = join(work, 'pod');
    mkdirSync(podDir);
    const trees = await store.renderAll([b.id, a.id], { pod: { podUuid: '2222', podDirs: [podDir] } });
    expect(trees.map((t) => t.imageId)).toEqual([b.id, a.id]);
    expect(trees[1]!.renderedAt).toBe(first.renderedAt); // found, not rendered again
    expect(readFileSync(join(trees[0]!.rootfs, 'etc/who'), 'utf8')).toBe('b');
    const [ref] = await store.podRefs();
    expect(new Set(ref!.trees)).toEqual(new Set(trees.map((t) => t.id)));
    expect(new Set(ref!.images)).toEqual(new Set([a.id, b.id]));
    expect((await store.resolve(a.id)).lastUsedAt).toBeGreaterThanOrEqual(first.renderedAt);
    await expect(store.renderAll([a.id, 'example.com/none'])).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
  });

  it('names a missing dependency, an ID mismatch and a cycle', async () => {
    const { work, store } = await setup();
    await store.importAci(makeAci(work, { name: 'example.com/lonely', dependencies: [{ imageName: 'example.com/nowhere', labels: { version: '2' } }] }));
    await expect(store.render('example.com/lonely')).rejects.toMatchObject({
      code: 'STORE_DEPENDENCY', message: expect.stringMatching(/dependency example.com\/nowhere,version=2 of example.com\/lonely .* is not in the store/),
    });
    await store.importAci(makeAci(work, { name: 'example.com/base' }));
    await store.importAci(makeAci(work, { name: 'example.com/pinned', dependencies: [{ imageName: 'example.com/base', imageID: `sha512-${'0'.repeat(128)}` }] }));
    await expect(store.render('example.com/pinned')).rejects.toMatchObject({ code: 'STORE_DEPENDENCY' });
    await store.importAci(makeAci(work, { name: 'example.com/ping', dependencies: [{ imageName: 'example.com/pong' }] }));
    await store.importAci(makeAci(work, { name: 'example.com/pong', dependencies: [{ imageName: 'example.com/ping' }] }));
    await expect(store.render('example.com/ping')).rejects.toMatchObject({ code: 'STORE_DEPENDENCY', message: expect.stringMatching(/dependency cycle/) });
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);
    expect(await store.trees()).toEqual([]);
  });

  it('missingDependency: the first dependency a render would not find, depth first, or none; without rendering anything', async () => {
    const { work, store } = await setup();
    await store.importAci(makeAci(work, { name: 'example.com/base', labels: { version: '1' } }));
    const mid = await store.importAci(makeAci(work, {
      name: 'example.com/mid', dependencies: [{ imageName: 'example.com/base', labels: { version: '1' } }, { imageName: 'example.com/tools' }],
    }));
    const app = await store.importAci(makeAci(work, { name: 'example.com/app', dependencies: [{ imageName: 'example.com/mid' }, { imageName: 'example.com/late' }] }));
    // Two levels down, before the app's own second dependency: the order a render walks them in.
    expect(await store.missingDependency('example.com/app')).toEqual({
      dependency: { imageName: 'example.com/tools', imageID: undefined, labels: [], size: undefined },
      of: { id: mid.id, name: 'example.com/mid' },
      message: `dependency example.com/tools of example.com/mid (${mid.id.slice(0, 19)}) is not in the store`,
    });
    await store.importAci(makeAci(work, { name: 'example.com/tools' }));
    expect(await store.missingDependency(app.id)).toMatchObject({ dependency: { imageName: 'example.com/late' }, of: { id: app.id } });
    // A label or a pinned ID that no stored image has is missing, as the render would find it.
    await store.importAci(makeAci(work, { name: 'example.com/late', labels: { version: '2' } }));
    expect(await store.missingDependency(app.id)).toBeUndefined();
    await store.importAci(makeAci(work, { name: 'example.com/old', dependencies: [{ imageName: 'example.com/base', labels: { version: '0' } }] }));
    expect(await store.missingDependency('example.com/old')).toMatchObject({ dependency: { imageName: 'example.com/base', labels: [{ name: 'version', value: '0' }] } });
    await store.importAci(makeAci(work, { name: 'example.com/pinned', dependencies: [{ imageName: 'example.com/base', imageID: `sha512-${'0'.repeat(128)}` }] }));
    expect(await store.missingDependency('example.com/pinned')).toMatchObject({ dependency: { imageName: 'example.com/base', imageID: `sha512-${'0'.repeat(128)}` } });
    // Nothing missing in a cycle: the render says what is wrong with it.
    await store.importAci(makeAci(work, { name: 'example.com/ping', dependencies: [{ imageName: 'example.com/pong' }] }));
    await store.importAci(makeAci(work, { name: 'example.com/pong', dependencies: [{ imageName: 'example.com/ping' }] }));
    expect(await store.missingDependency('example.com/ping')).toBeUndefined();
    await expect(store.missingDependency('example.com/none')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    expect(await store.trees()).toEqual([]);
    // Rendered, the tree has what missingDependency found stored.
    expect((await store.render(app.id)).layers).toHaveLength(5);
  });

  it('keeps only whitelisted paths, from the image and its dependencies', async () => {
    const { work, store } = await setup();
    await store.importAci(makeAci(work, { name: 'example.com/base', files: { 'etc/ca/crt': 'crt', 'etc/junk': 'j', 'usr/bin/sh': 'sh' } }));
    await store.importAci(makeAci(work, {
      name: 'example.com/app', files: { 'usr/bin/app': 'app', 'usr/bin/debug': 'd' },
      dependencies: [{ imageName: 'example.com/base' }], pathWhitelist: ['/etc/ca/crt', '/usr/bin/app'],
    }));
    const tree = await store.render('example.com/app');
    const list = (d: string) => readdirSync(join(tree.rootfs, d)).sort();
    expect(list('.')).toEqual(['etc', 'usr']);
    expect(list('etc')).toEqual(['ca']);
    expect(list('usr/bin')).toEqual(['app']);
    expect(readFileSync(join(tree.rootfs, 'etc/ca/crt'), 'utf8')).toBe('crt');
  });

  it('keeps owners, modes, setuid bits, device nodes, fifos, hard links and xattrs', async () => {
    const { work, store } = await setup();
    const layout = join(work, 'special');
    const r = join(layout, 'rootfs');
    mkdirSync(join(r, 'dev'), { recursive: true });
    writeFileSync(join(layout, 'manifest'), manifestJson({ name: 'example.com/special' }));
    writeFileSync(join(r, 'suid'), '#!/bin/sh\n');
    chmodSync(join(r, 'suid'), 0o4755);
    writeFileSync(join(r, 'owned'), 'o');
    chownSync(join(r, 'owned'), 1234, 5678);
    linkSync(join(r, 'owned'), join(r, 'owned-link'));
    execFileSync('mknod', [join(r, 'dev/null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(r, 'fifo')]);
    execFileSync('setfattr', ['-n', 'user.rkt', '-v', 'kept', join(r, 'owned')]);
    const aci = join(work, 'special.aci');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-C', layout, '-cf', aci, 'manifest', 'rootfs']);
    await store.importAci(aci);
    const tree = await store.render('example.com/special');
    const st = (p: string) => lstatSync(join(tree.rootfs, p));
    expect(st('suid').mode & 0o7777).toBe(0o4755);
    expect([st('owned').uid, st('owned').gid]).toEqual([1234, 5678]);
    expect(st('owned-link').ino).toBe(st('owned').ino);
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null').rdev).toBe(statSync('/dev/null').rdev);
    expect(st('fifo').isFIFO()).toBe(true);
    expect(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.rkt', join(tree.rootfs, 'owned')]).toString()).toBe('kept');
  });

  it('resolves an upper layer path through a lower layer symlink inside the tree, never on the host', async () => {
    const { work, store } = await setup();
    const victim = join(work, 'victim');
    mkdirSync(victim);
    const lower = rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/lower' }) }, ROOT,
      { name: 'rootfs/a', type: '2', linkname: victim },
      { name: 'rootfs/up', type: '2', linkname: '/../../../../../..' }, // `..` stops at the rootfs, as in a chroot
      { name: 'rootfs/lib', type: '2', linkname: 'usr/lib' },
      { name: 'rootfs/usr/', type: '5' }, { name: 'rootfs/usr/lib/', type: '5' },
    ]);
    const upper = rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/upper', dependencies: [{ imageName: 'example.com/lower' }] }) }, ROOT,
      { name: 'rootfs/a/x', content: 'through absolute link' },
      { name: 'rootfs/up/y', content: 'through dot-dot link' },
      { name: 'rootfs/lib/libz.so', content: 'usrmerge' },
    ]);
    await store.importAci(Readable.from([lower]));
    await store.importAci(Readable.from([upper]));
    const tree = await store.render('example.com/upper');
    expect(readdirSync(victim)).toEqual([]);
    expect(existsSync(join(work, 'y'))).toBe(false);
    expect(readFileSync(join(tree.rootfs, victim, 'x'), 'utf8')).toBe('through absolute link');
    expect(readFileSync(join(tree.rootfs, 'y'), 'utf8')).toBe('through dot-dot link');
    expect(readFileSync(join(tree.rootfs, 'usr/lib/libz.so'), 'utf8')).toBe('usrmerge');
    expect(readlinkSync(join(tree.rootfs, 'a'))).toBe(victim); // the link itself is kept as the image made it
  });

  it('replaces a lower layer symlink by an upper layer directory instead of following it', async () => {
    const { work, store } = await setup();
    const victim = join(work, 'victim');
    mkdirSync(victim);
    await store.importAci(Readable.from([rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/lower' }) }, ROOT, { name: 'rootfs/d', type: '2', linkname: victim },
    ])]));
    await store.importAci(Readable.from([rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/upper', dependencies: [{ imageName: 'example.com/lower' }] }) }, ROOT,
      { name: 'rootfs/d/', type: '5' }, { name: 'rootfs/d/file', content: 'inside' },
    ])]));
    const tree = await store.render('example.com/upper');
    expect(lstatSync(join(tree.rootfs, 'd')).isDirectory()).toBe(true);
    expect(readFileSync(join(tree.rootfs, 'd/file'), 'utf8')).toBe('inside');
    expect(readdirSync(victim)).toEqual([]);
  });

  it('checks entries again when rendering: a blob tampered with on disk cannot write outside the tree', async () => {
    const { work, store } = await setup();
    const img = await store.importAci(makeAci(work, { name: 'example.com/t', files: { f: 'x' } }));
    const victim = join(work, 'victim');
    writeFileSync(join(work, 'data/cas/images', img.id, 'aci'), rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/t' }) }, ROOT,
      { name: `rootfs/../../../../../../../..${victim}`, content: 'pwned' },
    ]));
    await expect(store.render(img.id)).rejects.toMatchObject({ code: 'STORE_ACI_UNSAFE', message: expect.stringMatching(/has a "\.\." component/) });
    expect(existsSync(victim)).toBe(false);
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);
    expect(await store.trees()).toEqual([]);
  });

  it('keeps a lower layer hard link to a file an upper layer replaces', async () => {
    const { store } = await setup();
    await store.importAci(Readable.from([rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/lower' }) }, ROOT, { name: 'rootfs/bin/', type: '5' },
      { name: 'rootfs/bin/perl', content: 'perl 5.36' }, { name: 'rootfs/bin/perl5.36', type: '1', linkname: 'rootfs/bin/perl' },
    ])]));
    await store.importAci(Readable.from([rawTar([
      { name: 'manifest', content: manifestJson({ name: 'example.com/upper', dependencies: [{ imageName: 'example.com/lower' }] }) }, ROOT,
      { name: 'rootfs/bin/perl', content: 'perl 5.40' },
    ])]));
    const tree = await store.render('example.com/upper');
    expect(readFileSync(join(tree.rootfs, 'bin/perl'), 'utf8')).toBe('perl 5.40');
    expect(readFileSync(join(tree.rootfs, 'bin/perl5.36'), 'utf8')).toBe('perl 5.36');
  });

  it('verify re-hashes a tree and repairs it; the same images always hash the same', async () => {
    const { work, store } = await setup();
    const img = await store.importAci(makeAci(work, { name: 'example.com/v', files: { 'bin/tool': 'original', 'etc/conf': 'c', 'bin/sh': { type: 'symlink', target: 'tool' } } }));
    const tree = await store.render(img.id);
    await new Promise((r) => setTimeout(r, 1100)); // a re-render in a later second must hash the same
    expect(await store.verifyTree(tree.id)).toMatchObject({ ok: true, repaired: false });
    writeFileSync(join(tree.rootfs, 'bin/tool'), 'tampered');
    expect(await store.verifyTree(tree.id, { repair: false })).toMatchObject({ ok: false, repaired: false });
    expect(await store.verifyImage(img.id)).toMatchObject({ ok: true, trees: [{ treeId: tree.id, ok: false, repaired: true }] });
    expect(readFileSync(join(tree.rootfs, 'bin/tool'), 'utf8')).toBe('original');
    expect(await store.verifyTree(tree.id)).toMatchObject({ ok: true });
    const again = await store.tree(tree.id);
    expect(again?.contentHash).toBe(tree.contentHash);
    // A damaged blob is reported, not repaired.
    writeFileSync(join(work, 'data/cas/images', img.id, 'aci'), 'garbage');
    expect((await store.verifyImage(img.id)).ok).toBe(false);
  });

  it('extracts one image or renders with dependencies into a directory, with or without the manifest', async () => {
    const { work, store } = await setup();
    await store.importAci(makeAci(work, { name: 'example.com/base', files: { 'base': 'b' } }));
    await store.importAci(makeAci(work, { name: 'example.com/app', files: { 'app': 'a' }, dependencies: [{ imageName: 'example.com/base' }] }));
    const one = join(work, 'one');
    await store.extractImage('example.com/app', one);
    expect(readdirSync(one).sort()).toEqual(['manifest', 'rootfs']);
    expect(readdirSync(join(one, 'rootfs'))).toEqual(['app']);
    const all = join(work, 'all');
    await store.extractImage('example.com/app', all, { rootfsOnly: true, withDependencies: true });
    expect(readdirSync(all).sort()).toEqual(['app', 'base']);
    await expect(store.extractImage('example.com/app', all)).rejects.toMatchObject({ code: 'STORE_TARGET', message: expect.stringMatching(/not empty/) });
    expect(readdirSync(all).sort()).toEqual(['app', 'base']);
    // A failed extraction leaves no half-made directory behind.
    await store.importAci(makeAci(work, { name: 'example.com/broken', dependencies: [{ imageName: 'example.com/missing' }] }));
    const broken = join(work, 'broken');
    await expect(store.extractImage('example.com/broken', broken, { withDependencies: true })).rejects.toMatchObject({ code: 'STORE_DEPENDENCY' });
    expect(existsSync(broken)).toBe(false);
  });

  it('extract and render to a directory hash every blob: a damaged one fails naming the image and leaves nothing', async () => {
    const { work, store } = await setup();
    const big = Buffer.alloc(200_000, 7);
    const base = await store.importAci(makeAci(work, { name: 'example.com/base', files: { 'base': big } }));
    const app = await store.importAci(makeAci(work, { name: 'example.com/app', files: { 'app': big }, dependencies: [{ imageName: 'example.com/base' }] }));
    const blob = (id: string) => join(work, 'data/cas/images', id, 'aci');
    const good = new Map([base.id, app.id].map((id) => [id, readFileSync(blob(id))]));
    const flip = (id: string) => () => {
      const b = Buffer.from(good.get(id) ?? Buffer.alloc(0));
      b.writeUInt8(b.readUInt8(100_000) ^ 1, 100_000); // file data: tar takes it without a word
      writeFileSync(blob(id), b);
    };
    const cases: { what: string; damaged: string; damage: () => void; withDependencies: boolean }[] = [
      // One layer taken as is: tar reads the blob itself (the fast path), hashed beside it.
      { what: 'a byte of the image, extract', damaged: app.id, damage: flip(app.id), withDependencies: false },
      // Two layers, streamed through the process.
      { what: 'a byte of the dependency, render', damaged: base.id, damage: flip(base.id), withDependencies: true },
      { what: 'the image cut short, extract', damaged: app.id, damage: () => truncateSync(blob(app.id), 10_240), withDependencies: false },
      { what: 'the dependency cut short, render', damaged: base.id, damage: () => truncateSync(blob(base.id), 10_240), withDependencies: true },
    ];
    for (const [i, c] of cases.entries()) {
      for (const [id, bytes] of good) writeFileSync(blob(id), bytes);
      c.damage();
      const dest = join(work, `out-${i}`);
      const failed = store.extractImage(app.id, dest, { withDependencies: c.withDependencies });
      await expect(failed, c.what).rejects.toMatchObject({
        code: 'STORE_LAYOUT',
        message: `the stored ACI of ${c.damaged} is damaged (its hash no longer matches its ID); fetch the image again to replace it`,
      });
      expect(existsSync(dest), c.what).toBe(false);
    }
    for (const [id, bytes] of good) writeFileSync(blob(id), bytes);
    await store.extractImage(app.id, join(work, 'fine'), { withDependencies: true, rootfsOnly: true });
    expect(readdirSync(join(work, 'fine')).sort()).toEqual(['app', 'base']);
  });

  it('renders the same tree concurrently into one tree, extracting it once', async () => {
    const work = tempDir();
    const log = join(work, 'tar.log');
    const tarWrapper = join(work, 'counting-tar');
    writeFileSync(tarWrapper, `#!/bin/sh\necho run >> ${log}\nexec tar "$@"\n`, { mode: 0o755 });
    const store = await openStore({ dir: join(work, 'data'), tarPath: tarWrapper });
    const img = await store.importAci(makeAci(work, { name: 'example.com/c', files: { f: 'x'.repeat(100000) } }));
    const second = await openStore({ dir: join(work, 'data'), tarPath: tarWrapper });
    const trees = await Promise.all([store.render(img.id), second.render(img.id), store.render(img.id)]);
    expect(new Set(trees.map((t) => t.id)).size).toBe(1);
    expect(readFileSync(log, 'utf8')).toBe('run\n');
    expect(readdirSync(join(work, 'data/cas/trees'))).toHaveLength(1);
    expect(readdirSync(join(work, 'data/cas/tmp'))).toEqual([]);

    // The claim of a process that died mid-render is not waited for.
    await store.gc({ gracePeriodMs: 3600_000 });
    writeFileSync(join(work, 'data/cas/tmp/claim-999999999.1.dead'), trees[0]?.id ?? '');
    const started = Date.now();
    expect((await store.render(img.id)).id).toBe(trees[0]?.id);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(readFileSync(log, 'utf8')).toBe('run\nrun\n');
  });

  it('gives the same tree whether tar reads a lone image directly or the entries are streamed to it', async () => {
    const { work, store } = await setup();
    const files = {
      'bin/tool': { type: 'file' as const, content: '#!/bin/sh\n', mode: 0o4755 },
      'bin/tool2': { type: 'hardlink' as const, target: 'bin/tool' },
      'lib/link': { type: 'symlink' as const, target: '/bin/tool' },
      'var/empty': { type: 'dir' as const, mode: 0o1777 },
      'etc/conf': 'x = 1\n',
    };
    // Alone: one layer without whitelists, the direct path. Above an empty base: two layers, streamed.
    const alone = await store.importAci(makeAci(work, { name: 'example.com/alone', files }));
    await store.importAci(makeAci(work, { name: 'example.com/base', files: {} }));
    const layered = await store.importAci(makeAci(work, { name: 'example.com/layered', files, dependencies: [{ imageName: 'example.com/base' }] }));
    const direct = await store.render(alone.id);
    const streamed = await store.render(layered.id);
    expect(direct.layers).toHaveLength(1);
    expect(streamed.layers).toHaveLength(2);
    // The trees' own hashes cover their manifests, which differ: compare the root filesystems.
    expect((await hashTree(direct.rootfs)).hash).toBe((await hashTree(streamed.rootfs)).hash);
    expect(lstatSync(join(direct.rootfs, 'bin/tool2')).ino).toBe(lstatSync(join(direct.rootfs, 'bin/tool')).ino);
    expect(lstatSync(join(direct.rootfs, 'bin/tool')).mode & 0o7777).toBe(0o4755);
    expect(readlinkSync(join(direct.rootfs, 'lib/link'))).toBe('/bin/tool');
  });
});
