import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { withIndex } from '../src/index-db.js';
import { layoutOf } from '../src/layout.js';
import { hashTree, treeHashVersion } from '../src/tree-hash.js';
import { makeAci, tempDir } from './helpers.js';

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function tree(files: Record<string, string>): string {
  const root = tempDir();
  writeFileSync(join(root, 'manifest'), '{}');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
  return root;
}

describe('tree hashes', () => {
  it('version 2 takes a known digest of a file of the same size instead of reading it, and reads any other', async () => {
    const root = tree({ 'rootfs/etc/a': 'alpha', 'rootfs/b': 'bravo!' });
    const read = await hashTree(root);
    expect(read.hash).toMatch(/^tree2-sha256-[0-9a-f]{64}$/);
    expect(treeHashVersion(read.hash)).toBe(2);
    const right = new Map([['rootfs/etc/a', { size: 5, sha256: sha256('alpha') }], ['rootfs/b', { size: 6, sha256: sha256('bravo!') }]]);
    expect((await hashTree(root, { known: right })).hash).toBe(read.hash);
    // A wrong digest of the right size is taken as given (so the digest comes from it, not from the file)...
    const wrong = new Map([['rootfs/etc/a', { size: 5, sha256: sha256('ALPHA') }]]);
    expect((await hashTree(root, { known: wrong })).hash).not.toBe(read.hash);
    // ...and one whose size differs from the file's is not: the file is read.
    const stale = new Map([['rootfs/etc/a', { size: 4, sha256: sha256('alph') }]]);
    expect((await hashTree(root, { known: stale })).hash).toBe(read.hash);
    // The first version, as earlier rkt-ts versions recorded it: the contents inline, known digests unused.
    const v1 = await hashTree(root, { version: 1, known: wrong });
    expect(v1.hash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(treeHashVersion(v1.hash)).toBe(1);
    expect(v1.size).toBe(read.size);
    writeFileSync(join(root, 'rootfs/b'), 'bravo?');
    expect((await hashTree(root)).hash).not.toBe(read.hash);
    expect((await hashTree(root, { version: 1 })).hash).not.toBe(v1.hash);
  });

  it('a tree recorded by an earlier rkt-ts (a version 1 hash) verifies as it was made; a repair records version 2', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const img = await store.importAci(makeAci(work, { name: 'example.com/old', files: { 'bin/tool': 'original', 'etc/conf': 'c' } }));
    const t = await store.render(img.id);
    const treeRoot = dirname(t.rootfs);
    const v1 = (await hashTree(treeRoot, { version: 1 })).hash;
    await withIndex(layoutOf(dir), { lockTimeoutMs: 5000 }, async (tx) => {
      const rec = await tx.tree(t.id);
      tx.putTree({ ...rec!, contentHash: v1 });
    });
    expect((await store.tree(t.id))?.contentHash).toBe(v1);
    expect(await store.verifyTree(t.id, { repair: false })).toMatchObject({ ok: true });
    writeFileSync(join(t.rootfs, 'bin/tool'), 'tampered');
    expect(await store.verifyTree(t.id, { repair: false })).toMatchObject({ ok: false, repaired: false });
    expect(await store.verifyTree(t.id)).toMatchObject({ ok: false, repaired: true });
    expect(readFileSync(join(t.rootfs, 'bin/tool'), 'utf8')).toBe('original');
    expect((await store.tree(t.id))?.contentHash).toBe((await hashTree(treeRoot)).hash);
    expect(await store.verifyTree(t.id)).toMatchObject({ ok: true });
  });
});
