import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, STALE_PARTIAL_MS } from '../src/index.js';
import { makeAci, tempDir } from './helpers.js';

async function setup() {
  const work = tempDir();
  const dir = join(work, 'data');
  const store = await openStore({ dir });
  const base = await store.importAci(makeAci(work, { name: 'example.com/base', files: { b: 'b' } }));
  const app = await store.importAci(makeAci(work, { name: 'example.com/app', files: { a: 'a' }, dependencies: [{ imageName: 'example.com/base' }] }));
  const other = await store.importAci(makeAci(work, { name: 'example.com/other', files: { o: 'o' } }));
  return { work, dir, store, base, app, other };
}

describe('gc', () => {
  it('removes unreferenced trees, then images unused for longer than the grace period', async () => {
    const { dir, store, base, app, other } = await setup();
    const tree = await store.render(app.id);
    const recent = await store.gc({ gracePeriodMs: 60_000 });
    expect(recent.removedTrees).toEqual([tree.id]);
    expect(recent.removedImages).toEqual([]);
    expect(existsSync(tree.path)).toBe(false);
    expect((await store.list())).toHaveLength(3);
    const later = await store.gc({ gracePeriodMs: 60_000, now: Date.now() + 120_000 });
    expect(later.removedImages.slice().sort()).toEqual([base.id, app.id, other.id].sort());
    expect(await store.list()).toEqual([]);
    for (const sub of ['images', 'trees', 'tmp', 'trash']) expect(readdirSync(join(dir, 'cas', sub))).toEqual([]);
  });

  it('never removes what a live pod references; a pod whose directory is gone releases it', async () => {
    const { work, store, base, app, other } = await setup();
    const podDir = join(work, 'pods/prepared/1111');
    mkdirSync(podDir, { recursive: true });
    mkdirSync(join(work, 'pods/run'));
    const podDirs = ['prepared', 'run', 'exited-garbage'].map((s) => join(work, 'pods', s, '1111'));
    const tree = await store.render(app.id, { pod: { podUuid: '1111', podDirs } });
    expect(await store.podRefs()).toMatchObject([{ podUuid: '1111', trees: [tree.id], images: [base.id, app.id] }]);
    const res = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(res.removedTrees).toEqual([]);
    expect(res.removedImages).toEqual([other.id]);
    expect(existsSync(join(tree.rootfs, 'a'))).toBe(true);
    await expect(store.remove(base.id)).rejects.toMatchObject({ code: 'STORE_IN_USE', message: expect.stringMatching(/used by pod 1111/) });
    await expect(store.remove(app.id)).rejects.toMatchObject({ code: 'STORE_IN_USE' });
    // The lifecycle moves the pod to run: still referenced.
    renameSync(podDir, join(work, 'pods/run/1111'));
    expect((await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 })).removedTrees).toEqual([]);
    // Collected: its directory moves to garbage (not listed) and the reference no longer counts.
    mkdirSync(join(work, 'pods/garbage'));
    renameSync(join(work, 'pods/run/1111'), join(work, 'pods/garbage/1111'));
    const after = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(after.removedRefs).toEqual(['1111']);
    expect(after.removedTrees).toEqual([tree.id]);
    expect(after.removedImages.slice().sort()).toEqual([base.id, app.id].sort());
  });

  it('a reference keeps its pod\'s images after the data directory moves: by podPaths, or an older rkt-ts\'s absolute podDirs by their pods/<state>/<uuid>', async () => {
    const { work, dir, store, base, app, other } = await setup();
    const podDirs = (data: string, uuid: string, states = ['prepared', 'run']) => states.map((s) => join(data, 'pods', s, uuid));
    for (const uuid of ['1111', '2222']) mkdirSync(join(dir, 'pods/run', uuid), { recursive: true });
    const tree = await store.render(app.id, { pod: { podUuid: '1111', podDirs: podDirs(dir, '1111') } });
    await store.render(app.id, { pod: { podUuid: '2222', podDirs: podDirs(dir, '2222') } });
    const ref = (d: string, uuid: string) => JSON.parse(readFileSync(join(d, 'cas/refs', `${uuid}.json`), 'utf8')) as { podDirs: string[]; podPaths?: string[] };
    expect(ref(dir, '1111')).toMatchObject({ podDirs: podDirs(dir, '1111'), podPaths: ['pods/prepared/1111', 'pods/run/1111'] });
    // 2222's as an rkt-ts before podPaths wrote it.
    const { podPaths: _, ...old } = ref(dir, '2222');
    writeFileSync(join(dir, 'cas/refs/2222.json'), JSON.stringify(old));

    const moved = join(work, 'moved');
    renameSync(dir, moved);
    const there = await openStore({ dir: moved });
    const gc = await there.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect([gc.removedTrees, gc.removedImages, gc.removedRefs]).toEqual([[], [other.id], []]);
    expect(existsSync(join(moved, 'cas/trees', tree.id, 'rootfs', 'a'))).toBe(true);
    await expect(there.remove(base.id)).rejects.toMatchObject({ code: 'STORE_IN_USE' });
    // Listed already, moved or not; a state it lacks is added, relative too.
    expect(await there.extendPodDirs({ podUuid: '2222', podDirs: podDirs(moved, '2222') })).toBe(false);
    expect(await there.extendPodDirs({ podUuid: '2222', podDirs: podDirs(moved, '2222', ['prepared', 'run', 'garbage']) })).toBe(true);
    expect(ref(moved, '2222')).toMatchObject({ podDirs: [...old.podDirs, join(moved, 'pods/garbage/2222')], podPaths: ['pods/prepared/2222', 'pods/run/2222', 'pods/garbage/2222'] });

    // Their directories gone, the references release the images.
    rmSync(join(moved, 'pods'), { recursive: true });
    const after = await there.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(after.removedRefs.slice().sort()).toEqual(['1111', '2222']);
    expect(after.removedTrees).toEqual([tree.id]);
    expect(await there.list()).toEqual([]);
  });

  it('extendPodDirs makes a reference valid in more directories, keeping what it pins; a pod without one stays without', async () => {
    const { work, dir, store, base, app } = await setup();
    mkdirSync(join(work, 'pods/exited-garbage/2222'), { recursive: true });
    mkdirSync(join(work, 'pods/garbage'));
    // Where an older rkt-ts's lifecycle ended: no garbage/.
    const old = ['prepared', 'run', 'exited-garbage'].map((s) => join(work, 'pods', s, '2222'));
    const tree = await store.render(app.id, { pod: { podUuid: '2222', podDirs: old } });
    const current = [...old, join(work, 'pods/garbage/2222')];
    expect(await store.extendPodDirs({ podUuid: '2222', podDirs: current })).toBe(true);
    expect(await store.podRefs()).toMatchObject([{ podUuid: '2222', podDirs: current, trees: [tree.id], images: [base.id, app.id] }]);
    renameSync(join(work, 'pods/exited-garbage/2222'), join(work, 'pods/garbage/2222'));
    const gc = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect([gc.removedTrees, gc.removedRefs]).toEqual([[], []]);
    expect(existsSync(join(tree.rootfs, 'a'))).toBe(true);
    // Listed already: nothing written, and the index is not opened (its lock is not even looked at).
    const ref = join(dir, 'cas/refs/2222.json');
    const before = readFileSync(ref, 'utf8');
    rmSync(join(dir, 'cas/index'), { recursive: true });
    expect(await store.extendPodDirs({ podUuid: '2222', podDirs: current })).toBe(false);
    expect(await store.extendPodDirs({ podUuid: '4444', podDirs: current })).toBe(false);
    expect(readFileSync(ref, 'utf8')).toBe(before);
    expect(existsSync(join(dir, 'cas/refs/4444.json'))).toBe(false);
    expect(existsSync(join(dir, 'cas/index'))).toBe(false);
  });

  it('pins already rendered trees for a pod and releases them', async () => {
    const { work, store, app } = await setup();
    const podDir = join(work, 'pod');
    mkdirSync(podDir);
    const tree = await store.render(app.id);
    const podDirs = [podDir];
    await expect(store.referencePod({ podUuid: 'p1', podDirs }, ['deps-sha512-00'])).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
    await expect(store.referencePod({ podUuid: 'p1', podDirs: [join(work, 'nope')] }, [tree.id])).rejects.toMatchObject({
      code: 'STORE_BAD_REFERENCE', message: expect.stringMatching(/pod p1: none of its directories exists/),
    });
    await expect(store.referencePod({ podUuid: '../evil', podDirs }, [tree.id])).rejects.toMatchObject({ code: 'STORE_BAD_REFERENCE' });
    await store.referencePod({ podUuid: 'p1', podDirs }, [tree.id]);
    expect((await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 })).removedTrees).toEqual([]);
    expect(await store.releasePod('p1')).toBe(true);
    expect(await store.releasePod('p1')).toBe(false);
    expect((await store.gc({ gracePeriodMs: 0 })).removedTrees).toEqual([tree.id]);
  });

  it('unreferencePod unpins what it names and keeps the rest of the pod\'s reference: an app add undone', async () => {
    const { work, store, base, app, other } = await setup();
    const podDirs = [join(work, 'pod')];
    mkdirSync(podDirs[0]!);
    const kept = await store.render(other.id, { pod: { podUuid: 'p2', podDirs } });
    const before = await store.podRef('p2');
    expect(before).toMatchObject({ images: [other.id], trees: [kept.id] });
    const added = await store.render(app.id, { pod: { podUuid: 'p2', podDirs } });
    await expect(store.remove(app.id)).rejects.toMatchObject({ code: 'STORE_IN_USE' });
    expect(await store.unreferencePod('p2', { images: [base.id, app.id], trees: [added.id] })).toBe(true);
    expect(await store.podRef('p2')).toEqual(before);
    expect(await store.unreferencePod('p2', { images: [app.id], trees: [] })).toBe(false);
    expect(await store.unreferencePod('p3', { images: [app.id], trees: [] })).toBe(false);
    expect(await store.podRef('p3')).toBeUndefined();
    expect((await store.remove(app.id)).id).toBe(app.id);
    await expect(store.remove(other.id)).rejects.toMatchObject({ code: 'STORE_IN_USE', message: expect.stringMatching(/used by pod p2/) });
  });

  it('a pod references every layer before it renders: remove and gc during the render leave them, and the pod gets its tree', async () => {
    const work = tempDir();
    const store = await openStore({ dir: join(work, 'data') });
    const many = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`data/f${i}`, `${i}\n`]));
    const base = await store.importAci(makeAci(work, { name: 'example.com/base', files: many }));
    const app = await store.importAci(makeAci(work, { name: 'example.com/app', files: { a: 'a' }, dependencies: [{ imageName: 'example.com/base' }] }));
    const podDir = join(work, 'pods/prepare/3333');
    mkdirSync(podDir, { recursive: true });
    const rendering = store.renderAll([app.id], { pod: { podUuid: '3333', podDirs: [podDir] } });
    // The render's claim is there from its first transaction until it published the tree.
    const tmp = join(work, 'data/cas/tmp');
    while (!readdirSync(tmp).some((n) => n.startsWith('claim-'))) await new Promise((r) => setTimeout(r, 2));
    await expect(store.remove(base.id)).rejects.toMatchObject({ code: 'STORE_IN_USE', message: expect.stringMatching(/used by pod 3333$/) });
    await expect(store.remove(app.id)).rejects.toMatchObject({ code: 'STORE_IN_USE' });
    const gc = await store.gc({ gracePeriodMs: 0, now: Date.now() + 1000 });
    expect(readdirSync(tmp).some((n) => n.startsWith('claim-')), 'the render was over before the removals').toBe(true);
    expect(gc.removedImages).toEqual([]);
    const [tree] = await rendering;
    expect(tree?.layers).toEqual([base.id, app.id]);
    expect(readFileSync(join(tree!.rootfs, 'data/f2999'), 'utf8')).toBe('2999\n');
    expect(await store.podRefs()).toMatchObject([{ podUuid: '3333', images: [base.id, app.id], trees: [tree!.id] }]);
  });

  it('removes debris of killed processes but not the work of live ones', async () => {
    const { dir, store } = await setup();
    const cas = join(dir, 'cas');
    const dead = '999999999.1.abc';
    mkdirSync(join(cas, 'tmp', `import-${dead}`));
    writeFileSync(join(cas, 'tmp', `import-${dead}`, 'aci'), 'partial');
    mkdirSync(join(cas, 'tmp', `render-${dead}x/rootfs`), { recursive: true });
    writeFileSync(join(cas, 'tmp', `write-${dead}y`), '{');
    mkdirSync(join(cas, 'images', `sha512-${'a'.repeat(128)}`));
    mkdirSync(join(cas, 'trees', `deps-sha512-${'b'.repeat(128)}/rootfs`), { recursive: true });
    mkdirSync(join(cas, 'trash', `tree-${dead}z/rootfs`), { recursive: true });
    const live = `render-${process.pid}.${readStart()}.live`;
    mkdirSync(join(cas, 'tmp', live));
    const res = await store.gc({ gracePeriodMs: 60_000 });
    expect(res.removedDebris).toBe(6);
    expect(readdirSync(join(cas, 'tmp'))).toEqual([live]);
    expect(readdirSync(join(cas, 'trash'))).toEqual([]);
    expect(readdirSync(join(cas, 'images'))).toHaveLength(3);
    expect(readdirSync(join(cas, 'trees'))).toEqual([]);
    rmSync(join(cas, 'tmp', live), { recursive: true });
  });

  it('keeps partial downloads in tmp/partial until they are stale, and a live process\'s always', async () => {
    const { dir, store } = await setup();
    const partial = join(dir, 'cas', 'tmp', 'partial');
    mkdirSync(partial);
    const dead = 'layer-999999999.1.abc.sha256-aa.part';
    const live = `layer-${process.pid}.${readStart()}.def.sha256-bb.part`;
    for (const name of ['sha256-cc.part', 'sha256-dd.part', dead, live]) writeFileSync(join(partial, name), 'some bytes');
    const old = (Date.now() - STALE_PARTIAL_MS - 60_000) / 1000;
    for (const name of ['sha256-dd.part', dead, live]) utimesSync(join(partial, name), old, old);
    const res = await store.gc({ gracePeriodMs: 60_000 });
    // The stale unowned one and the stale one of a dead process; the fresh one and the live process's stay.
    expect(res.removedDebris).toBe(2);
    expect(readdirSync(partial).sort()).toEqual([live, 'sha256-cc.part'].sort());
    // A week on, the fresh one is stale too.
    await store.gc({ gracePeriodMs: 60_000, now: Date.now() + STALE_PARTIAL_MS + 60_000 });
    expect(readdirSync(partial)).toEqual([live]);
  });
});

function readStart(): string {
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}
