import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { ownerTag } from '../src/owner.js';
import { makeAci, tempDir } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const PKG = dirname(here);

/** A store with an app (on a base) and a stage1-like image, both rendered once the slow way. */
async function setup() {
  const work = tempDir();
  const dir = join(work, 'data');
  const store = await openStore({ dir });
  await store.importAci(makeAci(work, { name: 'example.com/base', files: { b: 'b' } }));
  const app = await store.importAci(makeAci(work, { name: 'example.com/app', files: { a: 'a' }, dependencies: [{ imageName: 'example.com/base' }] }));
  const s1 = await store.importAci(makeAci(work, { name: 'example.com/stage1', files: { s: 's' } }));
  const first = await store.renderAll([s1.id, app.id]);
  const pod = (uuid: string) => {
    const podDir = join(work, 'pods', uuid);
    mkdirSync(podDir, { recursive: true });
    return { podUuid: uuid, podDirs: [podDir] };
  };
  return { work, dir, store, app, s1, first, pod };
}

describe("a pod's rendered trees without the index", () => {
  it('finds, references and records the use of rendered trees from a built package without loading LevelDB, zod or node:crypto', async () => {
    const { work, dir, store, app, s1, first, pod } = await setup();
    // A local ACI file imported with its file:// remote record, as `rkt run FILE.aci` does.
    const aci = makeAci(work, { name: 'example.com/file', files: { f: 'f' } });
    const url = `file://${aci}`;
    const file = await store.importAci(aci, { source: aci, remote: { url, etag: 'e1' } });
    expect(await store.fileImport(url, 'e1')).toBe(file.id); // the index answers once, and is copied
    expect(await store.fileImport(url, 'e2')).toBeUndefined(); // a changed file is not the stored image
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, 'cas/images', app.id), old, old);
    const out = mkdtempSync(join(PKG, '.test-dist-'));
    try {
      const { build } = await import('tsup');
      await build({ config: false, entry: [join(PKG, 'src/index.ts')], format: ['esm'], platform: 'node', target: 'node20', outDir: out, silent: true, splitting: true });
      const { podUuid, podDirs } = pod('2222');
      const { stdout } = await promisify(execFile)(process.execPath, [
        join(here, 'workers/pod-trees-probe.mjs'), join(out, 'index.js'), dir, podUuid, podDirs[0]!, url, 'e1', s1.id, app.id,
      ]);
      const res = JSON.parse(stdout) as { imported: string; crypto: boolean; trees: { id: string; rootfs: string }[] };
      expect(res.imported).toBe(file.id);
      // Tree IDs are sha512s, but without whitelists the layers name the tree (plan.ts treeOfLayers).
      expect(res.crypto).toBe(false);
      expect(res.trees).toEqual(first.map((t) => ({ id: t.id, rootfs: t.rootfs })));
      // The reference gc goes by, with every layer of both trees.
      const refs = await store.podRefs();
      expect(refs).toHaveLength(1);
      expect(refs[0]).toMatchObject({ podUuid: '2222', trees: first.map((t) => t.id) });
      expect([...refs[0]!.images].sort()).toEqual([...new Set(first.flatMap((t) => t.layers))].sort());
      // The use shows in the listing (and to image gc) though the index was not written.
      const listed = (await store.list()).find((i) => i.id === app.id)!;
      expect(listed.lastUsedAt).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('gc keeps trees a pod referenced this way, and removes them once the pod is gone', async () => {
    const { dir, store, s1, app, first, pod } = await setup();
    const use = pod('3333');
    const snapshot = () => readFileSync(join(dir, 'cas/images.json'), 'utf8');
    const before = snapshot();
    const trees = await store.renderAll([s1.id, app.id], { pod: use });
    // Found without a transaction: one would have rewritten the snapshot (its lastUsedAt touch).
    expect(snapshot()).toBe(before);
    expect(trees.map((t) => t.id)).toEqual(first.map((t) => t.id));
    const kept = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(kept.removedTrees).toEqual([]);
    for (const t of trees) expect(existsSync(t.rootfs)).toBe(true);
    rmSync(use.podDirs[0]!, { recursive: true });
    const gone = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(gone.removedTrees.slice().sort()).toEqual(trees.map((t) => t.id).sort());
  });

  it('tells the trees it expects (onExpected) before it references them, returns the same ones, and hands over the reference\'s sync (refSynced)', async () => {
    const { dir, store, s1, app, first, pod } = await setup();
    const told: { ids: string[]; rootfs: string[]; referenced: boolean }[] = [];
    const refFile = join(dir, 'cas/refs/9999.json');
    const trees = await store.renderAll([s1.id, app.id], {
      pod: pod('9999'),
      onExpected: (t) => told.push({ ids: t.map((x) => x.id), rootfs: t.map((x) => x.rootfs), referenced: existsSync(refFile) }),
    });
    expect(told).toEqual([{ ids: first.map((t) => t.id), rootfs: first.map((t) => t.rootfs), referenced: false }]);
    expect(trees.map((t) => t.id)).toEqual(told[0]!.ids);
    expect(existsSync(refFile)).toBe(true);
    // The sync of the reference's directory handed to the caller rather than waited for: the reference is there
    // (gc goes by it) when the call returns, and the sync ends.
    const handed: Promise<void>[] = [];
    const later = await store.renderAll([s1.id, app.id], { pod: pod('bbbb'), refSynced: (p) => handed.push(p) });
    expect(later.map((t) => t.id)).toEqual(first.map((t) => t.id));
    expect(handed).toHaveLength(1);
    expect(existsSync(join(dir, 'cas/refs/bbbb.json'))).toBe(true);
    await expect(handed[0]).resolves.toBeUndefined();
    // Where the store cannot tell early (no snapshot: the index's way), it says nothing and still answers.
    rmSync(join(dir, 'cas/images.json'));
    const late: unknown[] = [];
    const again = await store.renderAll([s1.id, app.id], { pod: pod('aaaa'), onExpected: (t) => late.push(t) });
    expect(late).toEqual([]);
    expect(again.map((t) => t.id)).toEqual(first.map((t) => t.id));
  });

  it('takes the index when a transaction is running, a tree is missing or the snapshot is gone, and still answers', async () => {
    const { dir, store, s1, app, first, pod } = await setup();
    // A live transaction's presence (this process counts as live): the lookup must not go around it.
    const presence = join(dir, 'cas/tmp', `index-${ownerTag()}.test`);
    writeFileSync(presence, '');
    const snapshot = () => readFileSync(join(dir, 'cas/images.json'), 'utf8');
    const before = snapshot();
    const a = await store.renderAll([s1.id, app.id], { pod: pod('4444') });
    rmSync(presence);
    expect(snapshot()).not.toBe(before); // the index's way: its touch rewrote the snapshot
    expect(a.map((t) => t.id)).toEqual(first.map((t) => t.id));
    // A tree directory removed behind the snapshot's back (an older rkt-ts's gc): rendered again.
    rmSync(first[1]!.path, { recursive: true });
    const b = await store.renderAll([s1.id, app.id], { pod: pod('5555') });
    expect(existsSync(b[1]!.rootfs)).toBe(true);
    // No snapshot (a crash between dropping and rewriting it): rebuilt from the index.
    rmSync(join(dir, 'cas/images.json'));
    const c = await store.renderAll([s1.id, app.id], { pod: pod('6666') });
    expect(c.map((t) => t.id)).toEqual(first.map((t) => t.id));
    // A version-1 snapshot (an older rkt-ts wrote it, without trees): used as missing, then upgraded.
    const images = (JSON.parse(readFileSync(join(dir, 'cas/images.json'), 'utf8')) as { images: unknown[] }).images;
    writeFileSync(join(dir, 'cas/images.json'), JSON.stringify({ snapshotVersion: 1, indexVersion: 1, images }));
    expect((await store.list()).length).toBe(images.length);
    const d = await store.renderAll([s1.id, app.id], { pod: pod('7777') });
    expect(d.map((t) => t.id)).toEqual(first.map((t) => t.id));
    expect(JSON.parse(readFileSync(join(dir, 'cas/images.json'), 'utf8'))).toMatchObject({ snapshotVersion: 2, trees: expect.any(Array) });
    expect((await store.podRefs()).map((r) => r.podUuid).sort()).toEqual(['4444', '5555', '6666', '7777']);
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([]);
    expect(statSync(join(dir, 'cas/images.json')).isFile()).toBe(true);
  });

  it('finds the tree of a whitelisted image (by its hash) and of one on the same base without a whitelist (by its layers)', async () => {
    const { work, store, pod } = await setup();
    const base = await store.list().then((all) => all.find((i) => i.name === 'example.com/base')!);
    // The same base under two apps, one filtering it through a whitelist: only the plain one's tree is
    // found by its layers; the whitelisted one's ID is hashed, as the index names it.
    const plain = await store.importAci(makeAci(work, { name: 'example.com/plain', files: { p: 'p' }, dependencies: [{ imageName: 'example.com/base' }] }));
    const filtered = await store.importAci(makeAci(work, {
      name: 'example.com/filtered', files: { f: 'f' }, dependencies: [{ imageName: 'example.com/base' }], pathWhitelist: ['/f'],
    }));
    const slow = await store.renderAll([plain.id, filtered.id]);
    expect(slow.map((t) => t.layers)).toEqual([[base.id, plain.id], [base.id, filtered.id]]);
    const snapshot = () => readFileSync(join(work, 'data', 'cas/images.json'), 'utf8');
    const before = snapshot();
    const fast = await store.renderAll([plain.id, filtered.id], { pod: pod('8888') });
    expect(snapshot()).toBe(before); // found without a transaction
    expect(fast.map((t) => t.id)).toEqual(slow.map((t) => t.id));
    expect(readdirSync(fast[0]!.rootfs).sort()).toEqual(['b', 'p']);
    expect(readdirSync(fast[1]!.rootfs)).toEqual(['f']);
  });
});
