// A store damaged on disk, through the built bin/rkt: a blob whose bytes changed or that was cut short, and
// what each command says of it and does about it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, sha512Id, StoreEnv } from './harness.js';

let env: StoreEnv;
beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => { env = new StoreEnv(); });
afterEach(() => env.cleanup());

const BIG = Buffer.alloc(300_000, 7);

/** A gzip ACI of example.com/damaged with a 300 kB file, so that a byte changed in the middle is file data. */
async function aci(): Promise<string> {
  const out = join(env.tmp, 'damaged.aci');
  const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/damaged', labels: [] });
  await buildAci(manifest, [{ type: 'file', path: 'big', data: BIG }, { type: 'file', path: 'small', data: 'small' }], out, { compression: 'gzip', overwrite: true });
  return out;
}

const blobOf = (id: string) => join(env.dir, 'cas/images', id, 'aci');

function flipByte(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] = (b[at] ?? 0) ^ 1;
  writeFileSync(file, b);
}

/** The trees of the store, removed so that the next fetch or run must render the blob again. */
function dropTrees(): void {
  expect(env.run(['image', 'gc', '--grace-period=1000h']).status).toBe(0);
  expect(readdirSync(join(env.dir, 'cas/trees'))).toEqual([]);
}

describe('a damaged blob', () => {
  it('is reported by image verify, naming the image, and replaced by the next fetch of the image', async () => {
    const file = await aci();
    const id = env.fetch(file);
    const short = id.slice(0, 19);
    const damages: [string, () => void][] = [
      ['a byte changed', () => flipByte(blobOf(id), 150_000)],
      ['truncated', () => truncateSync(blobOf(id), 10_240)],
    ];
    for (const [what, damage] of damages) {
      damage();
      const bad = env.run(['image', 'verify', id]);
      expect(bad.status, what).toBe(254);
      expect(bad.stdout.split('\n')[0], what).toBe(`${short} (example.com/damaged): corrupt: the stored ACI no longer hashes to its ID (fetch the image again to replace it)`);
      // Without a tree the fetch renders from the blob: a changed byte used to render a wrong file, a cut
      // blob failed the fetch.
      dropTrees();
      expect(env.fetch(file), what).toBe(id);
      expect(sha512Id(readFileSync(blobOf(id))), what).toBe(id);
      expect(env.run(['image', 'verify', id]), what).toMatchObject({ status: 0, stdout: expect.stringMatching(new RegExp(`^${short} \\(example\\.com/damaged\\): ok\n`)) });
      expect(env.run(['image', 'render', id, `out-${what.length}`]), what).toMatchObject({ status: 0, stderr: '' });
      expect(readFileSync(join(env.tmp, `out-${what.length}`, 'rootfs/big')).equals(BIG), what).toBe(true);
    }
    expect(existsSync(join(env.dir, 'cas/tmp')) ? readdirSync(join(env.dir, 'cas/tmp')) : []).toEqual([]);
  });

  it('fails image extract and image render in one line naming the image, leaving the target as it was', async () => {
    const id = env.fetch(await aci());
    mkdirSync(join(env.tmp, 'kept'));
    writeFileSync(join(env.tmp, 'kept/precious'), 'precious');
    const damages: [string, () => void][] = [
      ['a byte changed', () => flipByte(blobOf(id), 150_000)],
      ['truncated', () => truncateSync(blobOf(id), 10_240)],
    ];
    const good = readFileSync(blobOf(id));
    for (const [what, damage] of damages) {
      writeFileSync(blobOf(id), good);
      damage();
      for (const args of [['image', 'extract', id, 'new'], ['image', 'render', '--rootfs-only', id, 'new'], ['image', 'extract', '--overwrite', id, 'kept']]) {
        const r = env.run(args);
        expect(r.status, `${what}: ${args.join(' ')}`).toBe(254);
        expect(r.stderr, `${what}: ${args.join(' ')}`).toBe(`image ${args[1]}: the stored ACI of ${id} is damaged (its hash no longer matches its ID); fetch the image again to replace it\n`);
      }
      expect(existsSync(join(env.tmp, 'new')), what).toBe(false);
      expect(readdirSync(join(env.tmp, 'kept')), what).toEqual(['precious']);
      // No staging directory (.new.new-*, .kept.new-*) nor moved-aside one is left beside the targets.
      expect(readdirSync(env.tmp).filter((n) => n.startsWith('.')), what).toEqual([]);
    }
  });
});

describe('a damaged index', () => {
  it('is one line naming the command that rebuilds it, and rkt image rebuild-index does', async () => {
    const file = await aci();
    const id = env.fetch(file);
    writeFileSync(join(env.dir, 'cas/index/CURRENT'), 'garbage\n');
    rmSync(join(env.dir, 'cas/images.json'));
    const index = join(env.dir, 'cas/index');
    const line = (cmd: string) =>
      `${cmd}: the image index ${index} is damaged (IO error: ${index}/garbage: No such file or directory); "rkt --dir=${env.dir} image rebuild-index" rebuilds it from the images on disk\n`;
    expect(env.run(['image', 'list'])).toMatchObject({ status: 254, stdout: '', stderr: line('image list') });
    expect(env.run(['--insecure-options=image', 'fetch', file])).toMatchObject({ status: 254, stdout: '', stderr: expect.stringContaining(line('fetch')) });
    expect(env.run(['image', 'rebuild-index'])).toMatchObject({
      status: 0, stderr: '', stdout: 'rebuilt the image index: 1 image, 1 tree, 0 remote records (2 records kept from the old index)\n',
    });
    expect(env.ids()).toEqual([id]);
    expect(env.run(['image', 'verify', id]).status).toBe(0);
    expect(env.fetch(file)).toBe(id);
    expect(readdirSync(join(env.dir, 'cas/trash'))).toEqual([]);
  });
});

