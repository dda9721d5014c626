import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { INDEX_VERSION, LAYOUT_VERSION, openStore } from '../src/index.js';
import { tempDir, tinyAci } from './helpers.js';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/** Garbage over the start of every file of the index matching `re`, as a bad disk or a stray write leaves it. */
function scribble(dir: string, re: RegExp): void {
  const index = join(dir, 'cas/index');
  for (const name of readdirSync(index).filter((n) => re.test(n))) writeFileSync(join(index, name), Buffer.alloc(4096, 0x5a), { flag: 'r+' });
}

describe('a damaged index', () => {
  const damagedMessage = (dir: string) =>
    `the image index ${dir}/cas/index is damaged (`;
  const hint = (dir: string) => `); "rkt --dir=${dir} image rebuild-index" rebuilds it from the images on disk`;

  it('says so in one line naming the rebuild command, which keeps every record LevelDB can read back', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a', { version: '1' })]), { latest: true });
    const b = await store.importAci(Readable.from([tinyAci('example.com/b', 'b')]));
    const tree = await store.render(a.id);
    await store.putRemote({ url: 'https://example.com/a.aci', imageId: a.id, etag: '"e1"' });
    const before = await store.list();
    writeFileSync(join(dir, 'cas/index/CURRENT'), 'garbage\n');
    rmSync(join(dir, 'cas/images.json'));
    const failed = store.list();
    await expect(failed).rejects.toMatchObject({ code: 'STORE_INDEX_DAMAGED' });
    const message = await failed.then(() => '', (err: Error) => err.message);
    expect(message).toBe(`${damagedMessage(dir)}IO error: ${dir}/cas/index/garbage: No such file or directory${hint(dir)}`);

    expect(await store.rebuildIndex()).toEqual({ images: 2, trees: 1, remotes: 1, salvaged: 4 });
    expect(await store.list()).toEqual(before);
    expect((await store.resolve('example.com/a')).latest).toBe(true);
    expect(await store.trees()).toMatchObject([{ id: tree.id, contentHash: tree.contentHash }]);
    expect(await store.getRemote('https://example.com/a.aci')).toMatchObject({ imageId: a.id, etag: '"e1"' });
    expect((await store.gc({ gracePeriodMs: 3600_000 })).removedDebris).toBe(0);
    expect(readdirSync(join(dir, 'cas/trash'))).toEqual([]);
    expect(b.added).toBe(true);
  });

  it('reports a damaged table when it is read; with nothing readable the images come from disk and a live pod keeps its tree', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a')]));
    const b = await store.importAci(Readable.from([tinyAci('example.com/b', 'b')]));
    const podDir = join(work, 'pods/run/2222');
    mkdirSync(podDir, { recursive: true });
    const used = await store.render(a.id, { pod: { podUuid: '2222', podDirs: [podDir] } });
    const unused = await store.render(b.id);
    // Three more transactions: LevelDB moves the records above out of its log into tables.
    for (let i = 0; i < 3; i++) await store.trees();
    rmSync(join(dir, 'cas/images.json'));
    // Damaged tables: LevelDB opens the index and fails the first read of them.
    scribble(dir, /\.ldb$/);
    await expect(store.list()).rejects.toMatchObject({ code: 'STORE_INDEX_DAMAGED', message: expect.stringContaining('(Corruption: ') });
    scribble(dir, /\.(ldb|log)$/);
    const failed = store.list();
    await expect(failed).rejects.toMatchObject({ code: 'STORE_INDEX_DAMAGED' });
    expect(await failed.then(() => '', (err: Error) => err.message)).toMatch(/^the image index .* is damaged \((Corruption|IO error): .*\); "rkt --dir=.* image rebuild-index" rebuilds it from the images on disk$/);

    const r = await store.rebuildIndex();
    expect(r).toEqual({ images: 2, trees: 1, remotes: 0, salvaged: 0 });
    expect((await store.list()).map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    // The pod's tree is recorded again, with the same hash; the other one is debris and rendered anew.
    expect(await store.trees()).toMatchObject([{ id: used.id, imageId: a.id, layers: [a.id], contentHash: used.contentHash }]);
    const res = await store.gc({ gracePeriodMs: 3600_000 });
    expect(res.removedTrees).toEqual([]);
    expect(res.removedDebris).toBe(1);
    expect(readFileSync(join(used.rootfs, 'data'), 'utf8')).toBe('a');
    expect((await store.render(b.id)).id).toBe(unused.id);
    expect((await store.verifyTree(used.id)).ok).toBe(true);
  });

  it('rebuilding waits for a process that still has the old index open, and keeps what it wrote there', async () => {
    const work = tempDir();
    const dir = join(work, 'data');
    const store = await openStore({ dir });
    const a = await store.importAci(Readable.from([tinyAci('example.com/a', 'a')]));
    const late = { url: 'https://example.com/late.aci', imageId: a.id, downloadedAt: 1 };
    // Another process (LevelDB's lock is per process): it holds the index open until told to write and close.
    const other = spawn(process.execPath, ['--input-type=module', '-e', `
      import { ClassicLevel } from 'classic-level';
      const db = new ClassicLevel(process.argv[1]);
      await db.open();
      process.stdout.write('open\\n');
      process.stdin.once('data', async () => {
        await db.put(process.argv[2], process.argv[3], { sync: true });
        await db.close();
        process.exit(0);
      });
    `, join(dir, 'cas/index'), `remote/${late.url}`, JSON.stringify(late)], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((r) => other.stdout.once('data', r));
    const rebuilt = store.rebuildIndex();
    await new Promise((r) => setTimeout(r, 300));
    // It commits after the index was moved away, then lets go of it.
    other.stdin.write('go\n');
    expect(await rebuilt).toEqual({ images: 1, trees: 0, remotes: 1, salvaged: 2 });
    expect(await store.getRemote(late.url)).toMatchObject({ imageId: a.id });
  });
});
