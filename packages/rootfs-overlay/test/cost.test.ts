import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, unmountTree } from '../src/index.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * The cost of giving a pod's app its root filesystem and taking it away again, measured on real mounts.
 * The bounds are loose (a loaded CI machine must not fail them) but catch a regression by an order of
 * magnitude, such as probing or copying on every mount.
 */
describe('cost', () => {
  it('overlay mountAppRootfs + unmountTree stays within a few spawns of mount(8)', async () => {
    const root = await tmp.make();
    const lower = join(root, 'lower');
    await mkdir(join(lower, 'etc'), { recursive: true });
    for (let i = 0; i < 200; i++) await writeFile(join(lower, 'etc', `f${i}`), 'x'.repeat(1000));
    // One auto mount first: it probes and caches, which later mounts must not repeat.
    await mountAppRootfs({ lower, target: join(root, 'warm', 'rootfs'), upper: join(root, 'warm', 'u'), work: join(root, 'warm', 'w'), mode: 'auto', dataDir: root });
    await unmountTree(join(root, 'warm'));

    const mountMs: number[] = [];
    const unmountMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const pod = join(root, 'pods', `p${i}`);
      const t0 = performance.now();
      const r = await mountAppRootfs({ lower, target: join(pod, 'rootfs'), upper: join(pod, 'u'), work: join(pod, 'w'), mode: 'auto', dataDir: root });
      const t1 = performance.now();
      await unmountTree(pod);
      const t2 = performance.now();
      expect(r.mode).toBe('overlay');
      mountMs.push(t1 - t0);
      unmountMs.push(t2 - t1);
    }
    const m = median(mountMs);
    const u = median(unmountMs);
    console.log(`rootfs cost (median of 20): mountAppRootfs overlay ${m.toFixed(1)} ms, unmountTree ${u.toFixed(1)} ms`);
    expect(m + u).toBeLessThan(250);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('copy mode of a 200-file tree costs one cp', async () => {
    const root = await tmp.make();
    const lower = join(root, 'lower');
    await mkdir(join(lower, 'etc'), { recursive: true });
    for (let i = 0; i < 200; i++) await writeFile(join(lower, 'etc', `f${i}`), 'x'.repeat(1000));
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await mountAppRootfs({ lower, target: join(root, `c${i}`, 'rootfs'), upper: join(root, `c${i}`, 'u'), work: join(root, `c${i}`, 'w'), mode: 'copy' });
      ms.push(performance.now() - t0);
    }
    console.log(`rootfs cost (median of 5): mountAppRootfs copy of 200 x 1 KB files ${median(ms).toFixed(1)} ms`);
    expect(median(ms)).toBeLessThan(1000);
  });
});
