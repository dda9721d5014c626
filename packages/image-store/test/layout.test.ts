import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, LAYOUT_VERSION, openStore } from '../src/index.js';
import { tempDir, tinyAci } from './helpers.js';
import { Readable } from 'node:stream';

describe('layout and index versions', () => {
  it('creates a versioned layout and reopens it', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir });
    await store.importAci(Readable.from([tinyAci('example.com/v', 'v')]));
    expect(JSON.parse(readFileSync(join(dir, 'cas/layout.json'), 'utf8'))).toEqual({ layoutVersion: LAYOUT_VERSION });
    const again = await openStore({ dir });
    expect(await again.list()).toHaveLength(1);
  });

  it('refuses a layout written by a newer rkt-ts', async () => {
    const dir = join(tempDir(), 'data');
    await openStore({ dir });
    writeFileSync(join(dir, 'cas/layout.json'), JSON.stringify({ layoutVersion: LAYOUT_VERSION + 1 }));
    await expect(openStore({ dir })).rejects.toMatchObject({ code: 'STORE_VERSION', message: expect.stringMatching(/layout version 2 is newer/) });
  });

  it('refuses a damaged layout file', async () => {
    const dir = join(tempDir(), 'data');
    await openStore({ dir });
    writeFileSync(join(dir, 'cas/layout.json'), 'garbage');
    await expect(openStore({ dir })).rejects.toMatchObject({ code: 'STORE_LAYOUT' });
  });

  it('refuses an index written by a newer rkt-ts', async () => {
    const dir = join(tempDir(), 'data');
    const store = await openStore({ dir });
    await store.list();
    const db = new ClassicLevel<string, string>(join(dir, 'cas/index'));
    await db.put('meta/schema', String(INDEX_VERSION + 1));
    await db.close();
    // A newer rkt-ts drops the images.json snapshot when it upgrades the index (as upgrades here do).
    rmSync(join(dir, 'cas/images.json'));
    await expect(store.list()).rejects.toMatchObject({ code: 'STORE_VERSION', message: expect.stringMatching(/index schema version 2 is newer/) });
    await expect(store.importAci(Readable.from([tinyAci('example.com/v', 'v')]))).rejects.toMatchObject({ code: 'STORE_VERSION' });
  });
});

describe('the images.json snapshot', () => {
  it('answers list and resolve like the index, is dropped by every change, and is rebuilt when missing or torn', async () => {
    const dir = join(tempDir(), 'data');
    const snapshot = join(dir, 'cas/images.json');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a')]));
    const fromSnapshot = JSON.parse(readFileSync(snapshot, 'utf8')) as { images: { id: string }[] };
    expect(fromSnapshot.images.map((i) => i.id)).toEqual([a.id]);
    const b = await store.importAci(Readable.from([tinyAci('example.com/b', 'b')]));
    expect((await store.list()).map((i) => i.id)).toEqual([a.id, b.id]);
    await store.remove(a.id);
    expect((await store.list()).map((i) => i.id)).toEqual([b.id]);
    await expect(store.resolve(a.id)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });

    // A crash between dropping and rewriting it leaves no snapshot; a power loss may leave a torn one.
    rmSync(snapshot);
    expect((await store.list()).map((i) => i.id)).toEqual([b.id]);
    writeFileSync(snapshot, '{"snapshotVersion":1,"indexVers');
    expect((await store.resolve('example.com/b')).id).toBe(b.id);
    expect(JSON.parse(readFileSync(snapshot, 'utf8')).images).toHaveLength(1);
  });

  it('is read once per file by a process, and again when it is another file or was changed', async () => {
    const dir = join(tempDir(), 'data');
    const snapshot = join(dir, 'cas/images.json');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a')]));
    expect((await store.list()).map((i) => i.name)).toEqual(['example.com/a']);
    expect((await store.list()).map((i) => i.name)).toEqual(['example.com/a']);
    // Edited in place to the same length (no writer of this package does that): its change time tells.
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(snapshot, readFileSync(snapshot, 'utf8').replace('example.com/a', 'example.com/z'));
    expect((await store.list()).map((i) => i.name)).toEqual(['example.com/z']);
    // Another store of the same directory (as another process would) adds an image: a new file renamed in.
    const other = await openStore({ dir });
    const b = await other.importAci(Readable.from([tinyAci('example.com/b', 'b')]));
    expect((await store.list()).map((i) => i.id)).toEqual([a.id, b.id]);
    // Dropped (a transaction under way elsewhere): answered from the index, as before.
    rmSync(snapshot);
    expect((await store.list()).map((i) => i.id)).toEqual([a.id, b.id]);
    // Each reader gets its own arrays.
    const first = await store.list();
    first.pop();
    expect(await store.list()).toHaveLength(2);
  });
});

describe('a lost index', () => {
  it('is rebuilt from the images on disk, which stay listed, renderable and exportable', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a', { version: '1' })]));
    const b = await store.importAci(Readable.from([tinyAci('example.com/b', 'b')]));
    await store.render(a.id);
    rmSync(join(dir, 'cas/index'), { recursive: true });
    rmSync(join(dir, 'cas/images.json'));
    const again = await openStore({ dir });
    expect((await again.list()).map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    expect((await again.resolve('example.com/a:1')).id).toBe(a.id);
    const res = await again.gc({ gracePeriodMs: 3600_000 });
    expect(res.removedImages).toEqual([]);
    expect(res.removedDebris).toBe(1); // the unrecorded tree
    expect((await again.render(a.id)).layers).toEqual([a.id]);
  });
});
