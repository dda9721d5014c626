// 20 bin/rkt processes at once on one --dir, fetching (import and render), listing, rendering and removing a
// mix of images, several of them the same image: each succeeds or fails with one clear line, and afterwards
// the store is whole: every tree complete and built from listed images, every fetched image rendered.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { openStore } from '@rkt/image-store';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, sha512Id, StoreEnv, type RktResult } from './harness.js';

let env: StoreEnv;
beforeAll(() => ensureBuilt(), 600_000);
beforeEach(() => { env = new StoreEnv(); });
afterEach(() => env.cleanup());

function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

describe('20 concurrent rkt processes', () => {
  it('each succeeds or fails with a clear reason; every listed image exports to its ID, every render is complete', async () => {
    // Image i: its own file plus 200 KB, so imports and renders overlap in time.
    const images = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => {
      const files = { [`etc/img${i}`]: `image ${i}\n`, [`data/blob${i}`]: String(i).repeat(200_000) };
      const file = join(env.tmp, `img${i}.aci`);
      const manifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/img${i}` });
      await buildAci(manifest, Object.entries(files).map(([path, data]) => ({ type: 'file' as const, path, data })), file, { compression: 'gzip' });
      return { file, name: `example.com/img${i}`, files };
    }));
    for (const i of [0, 1, 2]) env.fetch(images[i]!.file);

    const jobs: { args: string[]; render?: { dir: string; image: number } }[] = [
      ...[1, 2, 3, 3, 4, 4, 5, 0].map((i) => ({ args: ['--insecure-options=image', 'fetch', images[i]!.file] })),
      ...[0, 1, 2, 3].map(() => ({ args: ['image', 'list', '--full', '--no-legend'] })),
      ...[0, 1, 1, 3].map((i, k) => ({ args: ['image', 'render', '--rootfs-only', images[i]!.name, `r${k}`], render: { dir: join(env.tmp, `r${k}`), image: i } })),
      ...[2, 2, 5, 4].map((i) => ({ args: ['image', 'rm', images[i]!.name] })),
    ];
    expect(jobs).toHaveLength(20);
    const results: RktResult[] = await Promise.all(jobs.map((j) => env.start(j.args)));

    // An image rm meeting a fetch of the same image fails cleanly: the fetch holds it until it is rendered.
    const allowed = new RegExp('^(image rm|image render): (no image named example\\.com/img\\d|no image with ID sha512-[0-9a-f]+ in the store|' +
      'image sha512-[0-9a-f]+ was removed|image sha512-[0-9a-f]{12} \\(example\\.com/img\\d\\) is being fetched by rkt process \\d+)');
    results.forEach((r, k) => {
      const what = `${jobs[k]!.args.join(' ')} -> ${r.status}: ${r.stderr}`;
      if (r.status === 0) {
        // A fetch says once that --insecure-options=image turned signature checks off; nothing else is printed.
        expect(r.stderr, what).toBe(jobs[k]!.args.includes('fetch') ? 'warning: image signature verification has been disabled (--insecure-options=image)\n' : '');
      } else {
        expect(r.status, what).toBe(254);
        expect(r.stderr.trimEnd().split('\n'), what).toHaveLength(1);
        expect(r.stderr, what).toMatch(allowed);
      }
    });
    // Fetches never fail, whatever runs beside them; image 0 and 1 are never removed, so their renders succeed.
    results.slice(0, 8).forEach((r) => expect(r.status).toBe(0));
    [12, 13, 14].forEach((k) => expect(results[k]?.status, results[k]?.stderr).toBe(0));

    for (const [k, job] of jobs.entries()) {
      if (job.render === undefined || results[k]?.status !== 0) continue;
      expect(filesUnder(job.render.dir)).toEqual(images[job.render.image]!.files);
    }
    const ids = env.ids();
    expect(ids.length).toBeGreaterThanOrEqual(3);
    for (const id of ids) {
      expect(env.run(['image', 'export', '--overwrite', id, 'check.aci']).status).toBe(0);
      expect(sha512Id(readFileSync(join(env.tmp, 'check.aci')))).toBe(id);
    }
    const verify = env.run(['image', 'verify', ...ids]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(readdirSync(join(env.dir, 'cas/tmp')).filter((n) => !n.startsWith('claim-'))).toEqual([]);

    // Every image left was fetched, and a fetch renders: each has its complete tree, and no tree outlives
    // an image it was built from.
    const store = await openStore({ dir: env.dir });
    const listed = await store.list();
    const trees = await store.trees();
    for (const t of trees) for (const layer of t.layers) expect(listed.map((i) => i.id)).toContain(layer);
    for (const img of listed) {
      const tree = trees.find((t) => t.imageId === img.id);
      expect(tree, img.name).toBeDefined();
      expect(filesUnder(tree!.rootfs)).toEqual(images.find((i) => i.name === img.name)!.files);
    }
    expect(env.run(['image', 'gc']).status).toBe(0);
    for (const sub of ['tmp', 'trash']) expect(readdirSync(join(env.dir, 'cas', sub))).toEqual([]);
  });
});
