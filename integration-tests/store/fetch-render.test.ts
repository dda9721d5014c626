// `rkt fetch` renders at fetch time; a fetch killed with SIGKILL in the middle of that render leaves a store
// that opens, shows only complete things, lets `image rm` have the image (the dead fetch's hold lapsed),
// and whose next `image gc` removes every leftover; the next fetch renders a complete tree.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { openStore } from '@rkt/image-store';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, rktBin, StoreEnv } from './harness.js';

let env: StoreEnv;
beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => { env = new StoreEnv(); });
afterEach(() => env.cleanup());

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('rkt fetch renders', () => {
  it('a fetch killed mid-render leaves a consistent store; gc removes the debris; the next fetch renders it whole', async () => {
    // Enough incompressible files that the render takes long enough to be caught in the act.
    const files: Record<string, Uint8Array<ArrayBuffer>> = {};
    for (let i = 0; i < 1500; i++) files[`data/f${i}`] = new Uint8Array(randomBytes(16_000));
    const aci = join(env.tmp, 'big.aci');
    const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/big' });
    await buildAci(manifest, Object.entries(files).map(([path, data]) => ({ type: 'file' as const, path, data })), aci, { compression: 'gzip' });

    const tmp = join(env.dir, 'cas', 'tmp');
    const child = spawn(rktBin, [`--dir=${env.dir}`, '--insecure-options=image', 'fetch', aci], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('close', (_code, signal) => r(signal)));
    try {
      // The render's private directory appears once the image is imported and held: kill the fetch there.
      let caught = false;
      for (let i = 0; i < 20_000 && child.exitCode === null; i++) {
        if (existsSync(tmp) && readdirSync(tmp).some((n) => n.startsWith('render-'))) {
          child.kill('SIGKILL');
          caught = true;
          break;
        }
        await sleep(2);
      }
      expect(caught, 'the fetch finished before its render could be interrupted').toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    }
    const debris = readdirSync(tmp);
    expect(debris.some((n) => n.startsWith('hold-'))).toBe(true);
    expect(debris.some((n) => n.startsWith('render-'))).toBe(true);

    // The store opens; the image (imported before the kill) is listed, and no half-rendered tree is.
    const id = env.ids();
    expect(id).toHaveLength(1);
    const store = await openStore({ dir: env.dir });
    expect(await store.trees()).toEqual([]);
    // The dead process holds nothing: rm works, then gc removes the dead fetch's leftovers.
    expect(env.run(['image', 'rm', 'example.com/big'])).toMatchObject({ status: 0 });
    const gc = env.run(['image', 'gc']);
    expect(gc.status, gc.stderr).toBe(0);
    for (const sub of ['tmp', 'trash', 'trees', 'images']) expect(readdirSync(join(env.dir, 'cas', sub)), sub).toEqual([]);

    // Fetched again, it is rendered at fetch time, whole.
    expect(env.fetch(aci)).toBe(id[0]);
    const trees = await store.trees();
    expect(trees.map((t) => t.imageId)).toEqual(id);
    const rootfs = trees[0]!.rootfs;
    expect(readdirSync(join(rootfs, 'data'))).toHaveLength(1500);
    for (const name of ['data/f0', 'data/f777', 'data/f1499']) expect(readFileSync(join(rootfs, name)).equals(Buffer.from(files[name]!))).toBe(true);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
