import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { makeAci, noise, rng, tempDir } from './helpers.js';
import { buildBundle, expectConsistent, startWorker } from './multiprocess.js';

let bundle: { bundle: string; cleanup: () => void };
beforeAll(async () => { bundle = await buildBundle(); }, 60_000);
afterAll(() => bundle?.cleanup());

const ALLOWED = new Set(['STORE_NOT_FOUND', 'STORE_DEPENDENCY', 'STORE_IN_USE']);

describe('many rkt processes at once', () => {
  it('20 processes importing, listing, rendering, verifying, collecting and removing: each succeeds or fails clearly; the store stays consistent', async () => {
    const work = tempDir();
    const dataDir = join(work, 'data');
    const files = (seed: number) => ({ 'bin/blob': noise(256 * 1024, seed), 'etc/conf': `seed ${seed}\n` });
    const acis = {
      base: makeAci(work, { name: 'example.com/base', files: files(1), compression: 'gzip' }),
      app1: makeAci(work, { name: 'example.com/app1', files: files(2), dependencies: [{ imageName: 'example.com/base' }] }),
      app2: makeAci(work, { name: 'example.com/app2', files: files(3), dependencies: [{ imageName: 'example.com/base' }], compression: 'xz' }),
      solo1: makeAci(work, { name: 'example.com/solo1', files: files(4) }),
      solo2: makeAci(work, { name: 'example.com/solo2', files: files(5), compression: 'bzip2' }),
    };
    const names = Object.keys(acis).map((k) => `example.com/${k}`);
    const store = await openStore({ dir: dataDir });
    await store.importAci(acis.base);
    await store.importAci(acis.app1);

    const seed = Date.now() % 100000;
    const next = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
    const pods: string[] = [];
    const plans = Array.from({ length: 20 }, (_, w) => {
      const ops: string[] = [];
      for (let k = 0; k < 4; k++) {
        const r = next();
        if (r < 0.3) ops.push('import', pick(Object.values(acis)));
        else if (r < 0.5) ops.push('render', pick(names));
        else if (r < 0.6) ops.push('remove', pick(names));
        else if (r < 0.7) ops.push('list', '-');
        else if (r < 0.78) ops.push('gc', '0');
        else if (r < 0.84) ops.push('resolve', pick(names));
        else if (r < 0.9) ops.push('verify', pick(names));
        else {
          const podDir = join(work, 'pods', `pod-${w}-${k}`);
          mkdirSync(podDir, { recursive: true });
          pods.push(podDir);
          ops.push('podrender', `${pick(['example.com/app1', 'example.com/base'])}:${podDir}`);
        }
      }
      return ops;
    });
    const results = await Promise.all(plans.map((ops) => startWorker(bundle.bundle, dataDir, ops).done));

    const pinned: string[] = [];
    for (const [w, r] of results.entries()) {
      const context = `worker ${w} (seed ${seed}) ops ${plans[w]?.join(' ')}: ${r.stderr} ${JSON.stringify(r.lines)}`;
      expect(r.code === 0 || r.code === 3, context).toBe(true);
      expect(r.lines).toHaveLength((plans[w]?.length ?? 0) / 2);
      for (const line of r.lines) {
        if (line.ok === true) {
          if (line.op === 'podrender') pinned.push(line.result as string);
          continue;
        }
        expect(ALLOWED.has(line.code as string), `${String(line.code)}: ${String(line.message)} in ${context}`).toBe(true);
        expect(String(line.message)).not.toMatch(/\n/);
        expect(String(line.message).length).toBeGreaterThan(10);
      }
    }
    // What pods pinned survived every concurrent gc and rm.
    const trees = new Set((await store.trees()).map((t) => t.id));
    for (const t of pinned) expect(trees.has(t), `pinned tree ${t} (seed ${seed})`).toBe(true);
    await expectConsistent(dataDir, true);
  }, 120_000);
});
