// Holds: what keeps `image rm` and gc from taking an image between a fetch's import and its render.
// A killed holder is covered through the CLI in integration-tests/store/fetch-render.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
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
    await hold.add([id]);
    expect((await storeError(store.remove(id))).code).toBe('STORE_IN_USE');
    await hold.release();
    await hold.release();
    expect((await store.remove(id)).id).toBe(id);
    // A released hold cannot come back to life.
    expect((await storeError(hold.add([id]))).code).toBe('STORE_BAD_REFERENCE');
  });
});
