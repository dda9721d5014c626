// Holds: what keeps `image rm` and gc from taking an image between a fetch's import and its render.
// A killed holder is covered through the CLI in integration-tests/store/fetch-render.test.ts.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, StoreError } from '../src/index.js';
import { makeAci, tempDir } from './helpers.js';

async function setup() {
  const work = tempDir();
  const dir = join(work, 'data');
  const store = await openStore({ dir });
  const file = makeAci(work, { name: 'example.com/app', files: { 'etc/app': 'app\n' } });
  return { work, dir, store, file };
}

async function storeError(p: Promise<unknown>): Promise<StoreError> {
  const err: unknown = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

describe('holds', () => {
  it('an image held by its import is refused to remove and kept by gc until the hold is released', async () => {
    const { dir, store, file } = await setup();
    const hold = store.hold();
    const { id } = await store.importAci(file, { hold });
    expect(hold.images).toEqual([id]);
    expect(JSON.parse(readFileSync(join(dir, 'cas/tmp', hold.name), 'utf8'))).toEqual([id]);

    const refused = await storeError(store.remove('example.com/app'));
    expect(refused.code).toBe('STORE_IN_USE');
    expect(refused.message).toBe(`image ${id.slice(0, 19)} (example.com/app) is being fetched by rkt process ${process.pid}`);
    const gc = await store.gc({ gracePeriodMs: 0, now: Date.now() + 60_000 });
    expect(gc.removedImages).toEqual([]);
    expect(gc.removedDebris).toBe(0);

    const tree = await store.render(id);
    expect(readFileSync(join(tree.rootfs, 'etc/app'), 'utf8')).toBe('app\n');
    await hold.release();
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([]);
    expect((await store.remove('example.com/app')).id).toBe(id);
    expect(await store.list()).toEqual([]);
    expect(await store.trees()).toEqual([]);
  });

  it('holds only images that are stored: a missing one fails with STORE_NOT_FOUND and holds nothing', async () => {
    const { dir, store, file } = await setup();
    const { id } = await store.importAci(file);
    const hold = store.hold();
    const missing = `sha512-${'0'.repeat(128)}`;
    expect((await storeError(hold.add([id, missing]))).code).toBe('STORE_NOT_FOUND');
    expect(hold.images).toEqual([]);
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([]);
    // addIfStored: the same check, said as a boolean.
    expect(await hold.addIfStored(missing)).toBe(false);
    expect(hold.images).toEqual([]);
    expect(await hold.addIfStored(id)).toBe(true);
    expect(hold.images).toEqual([id]);
    await hold.add([id]);
    expect((await storeError(store.remove(id))).code).toBe('STORE_IN_USE');
    await hold.release();
    await hold.release();
    expect((await store.remove(id)).id).toBe(id);
    // A released hold cannot come back to life.
    expect((await storeError(hold.add([id]))).code).toBe('STORE_BAD_REFERENCE');
  });
});

describe('a pod\'s hold (rkt run and prepare)', () => {
  it('says so when remove refuses its image, and is kept by gc', async () => {
    const { dir, store, file } = await setup();
    const { id } = await store.importAci(file);
    const hold = store.hold('pod');
    await hold.add([id]);
    expect(JSON.parse(readFileSync(join(dir, 'cas/tmp', hold.name), 'utf8'))).toEqual({ purpose: 'pod', images: [id] });
    const refused = await storeError(store.remove(id));
    expect(refused.message).toBe(`image ${id.slice(0, 19)} (example.com/app) is being used by rkt process ${process.pid} to prepare a pod`);
    expect((await store.gc({ gracePeriodMs: 0, now: Date.now() + 60_000 })).removedImages).toEqual([]);
    await hold.release();
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([]);
  });

  it('costs no file system work until it holds something', async () => {
    const { dir, store } = await setup();
    const hold = store.hold('pod');
    await hold.release();
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([]);
  });
});

describe('rollback of what a hold imported', () => {
  it('removes the images its imports added, with their trees, and gives back the latest flags and remote records they took', async () => {
    const { work, dir, store } = await setup();
    const url = 'https://example.com/app.aci';
    const v1 = makeAci(work, { name: 'example.com/app', files: { 'etc/v': '1\n' } });
    const v2 = makeAci(work, { name: 'example.com/app', files: { 'etc/v': '2\n' } });
    const before = await store.importAci(v1, { latest: true, remote: { url, etag: '"one"' } });
    const remoteBefore = await store.getRemote(url);

    const hold = store.hold();
    const fetched = await store.importAci(v2, { latest: true, remote: { url, etag: '"two"' }, hold });
    expect(hold.imports).toMatchObject([{ id: fetched.id, added: true, unlatest: [before.id], remote: { url, previous: remoteBefore } }]);
    await store.render(fetched.id);
    expect((await store.resolve('example.com/app')).id).toBe(fetched.id);

    const r = await hold.rollback();
    expect(r).toEqual({ removed: [fetched.id], kept: [] });
    expect((await store.list()).map((i) => [i.id, i.latest])).toEqual([[before.id, true]]);
    expect(await store.getRemote(url)).toEqual(remoteBefore);
    expect(await store.trees()).toEqual([]);
    expect(hold.imports).toEqual([]);
    expect(hold.images).toEqual([]);
    await hold.release();
    expect((await store.gc({ gracePeriodMs: 60_000 })).removedDebris).toBe(0);
    for (const sub of ['tmp', 'trash']) expect(readdirSync(join(dir, 'cas', sub))).toEqual([]);
    expect(readdirSync(join(dir, 'cas/images'))).toEqual([before.id]);
  });

  it('never removes an image that was stored before its import, nor one another hold or a live pod uses', async () => {
    const { work, store, file } = await setup();
    const stored = await store.importAci(file, { remote: { url: 'file:///app.aci', etag: 'a' } });
    const remote = await store.getRemote('file:///app.aci');
    const held = makeAci(work, { name: 'example.com/held', files: { h: 'h' } });
    const used = makeAci(work, { name: 'example.com/used', files: { u: 'u' } });

    const hold = store.hold();
    // Stored already: the import only refreshed it, and put a remote record of its own in place.
    expect((await store.importAci(file, { hold, remote: { url: 'file:///app.aci', etag: 'b' }, latest: true })).added).toBe(false);
    const h = await store.importAci(held, { hold });
    const u = await store.importAci(used, { hold });
    // Another fetch holds one of them by now, and a pod renders the other.
    const other = store.hold();
    await other.add([h.id]);
    const podDir = join(work, 'pods/prepare/2222');
    mkdirSync(podDir, { recursive: true });
    await store.render(u.id, { pod: { podUuid: '2222', podDirs: [podDir] } });

    const r = await hold.rollback();
    expect(r.removed).toEqual([]);
    expect(r.kept).toEqual([
      { id: u.id, reason: 'is used by pod 2222' },
      { id: h.id, reason: `is being fetched by rkt process ${process.pid}` },
    ]);
    expect((await store.list()).map((i) => i.id).sort()).toEqual([stored.id, h.id, u.id].sort());
    // What the refreshing import changed is given back.
    expect((await store.get(stored.id))?.latest).toBe(false);
    expect(await store.getRemote('file:///app.aci')).toEqual(remote);
    await Promise.all([hold.release(), other.release()]);
  });

  it('never lets another process read the hold file truncated while imports and rollbacks rewrite it', async () => {
    // rollback rewrites the hold after its transaction, outside the lock under which remove and gc read holds:
    // one reading it empty there would take the image the hold still names. Another process reads the file
    // in a tight loop through many rollbacks; every read must name that image.
    const { work, dir, store, file } = await setup();
    const hold = store.hold();
    const { id: kept } = await store.importAci(file, { hold });
    const other = makeAci(work, { name: 'example.com/other', files: { o: 'o' } });
    const path = join(dir, 'cas/tmp', hold.name);
    const stop = join(work, 'stop');
    const reader = `
      const { existsSync, readFileSync } = require('node:fs');
      const [path, stop, kept] = process.argv.slice(1);
      let reads = 0; const bad = [];
      process.stdout.write('ready\\n');
      for (;;) {
        if (reads % 256 === 0 && existsSync(stop)) break;
        reads++;
        let text;
        try { text = readFileSync(path, 'utf8'); } catch (e) { bad.push(e.code); continue; }
        try { if (!JSON.parse(text).includes(kept)) bad.push(text); } catch { bad.push(JSON.stringify(text)); }
      }
      process.stdout.write(JSON.stringify({ reads, bad: bad.length, first: bad.slice(0, 3) }) + '\\n');`;
    const child = spawn(process.execPath, ['-e', reader, path, stop, kept], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      for (let i = 0; i < 15; i++) {
        const imported = await store.importAci(other, { hold });
        expect(imported.added).toBe(true);
        const last = hold.imports.at(-1);
        if (last === undefined) throw new Error('the import made with the hold is not in hold.imports');
        expect((await hold.rollback([last])).removed).toEqual([imported.id]);
      }
      writeFileSync(stop, '');
      await exited;
      const seen = JSON.parse(out.split('\n')[1] ?? '') as { reads: number; bad: number; first: unknown[] };
      expect(seen.reads).toBeGreaterThan(1000);
      expect(seen).toMatchObject({ bad: 0, first: [] });
    } finally {
      child.kill('SIGKILL');
    }
    expect((await store.list()).map((i) => i.id)).toEqual([kept]);
    // The replaced copies leave nothing behind in tmp/.
    expect(readdirSync(join(dir, 'cas/tmp'))).toEqual([hold.name]);
    await hold.release();
  });
});
