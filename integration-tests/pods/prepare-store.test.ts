// What `rkt prepare` does to the image store, through bin/rkt. Against `rkt image rm` and `rkt image gc` of
// the images it is rendering, as separate processes started at staggered moments, round after round: the pod
// always succeeds and references only images and trees that are there; the removals succeed (before the pod
// took the image) or refuse in one line naming the pod or the preparing process, never pulling an image out
// from under a render. And a prepare that fails leaves the store as it found it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAci } from '@rkt/appc-spec';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, RktEnv, STAGE1S, type RktResult } from './harness.js';

let env: RktEnv;
/** Every data directory a test made: cleaned up after it, even when it fails. */
const envs = new Set<RktEnv>();
const fly = STAGE1S.find((s) => s.name === 'fly');

function newEnv(): RktEnv {
  const e = new RktEnv(fly);
  envs.add(e);
  return e;
}

async function cleanup(e: RktEnv): Promise<void> {
  envs.delete(e);
  await e.cleanup();
}

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  for (const e of [...envs]) await cleanup(e);
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An image with 1,500 small files and 4 MB: rendering it takes long enough for the removals to meet it. */
async function buildImage(dir: string, name: string, deps?: { imageName: string }[]): Promise<string> {
  const files = [{ type: 'file' as const, path: `etc/${name.replace(/\W/g, '_')}`, data: `${name}\n` }];
  for (let i = 0; i < 1500; i++) files.push({ type: 'file' as const, path: `data/${name.replace(/\W/g, '_')}/f${i}`, data: `${name} ${i}\n`.repeat(20) });
  files.push({ type: 'file' as const, path: 'data/big', data: Buffer.alloc(4 << 20, name.length).toString('latin1') });
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name,
    app: { exec: ['/bin/true'], user: '0', group: '0' },
    ...(deps !== undefined ? { dependencies: deps } : {}),
  };
  const file = join(dir, `${name.replace(/\W/g, '_')}.aci`);
  await buildAci(JSON.stringify(manifest), files, file, { compression: 'gzip' });
  return file;
}

interface PodInfo {
  stage1: { imageId: string; treeId: string };
  apps: { name: string; imageId: string; treeId: string }[];
}

/** The prepared pod's images and trees are all in the store, and its reference names them. */
function expectPodWhole(uuid: string): PodInfo {
  const pod = join(env.dataDir, 'pods', 'prepared', uuid);
  const info = JSON.parse(readFileSync(join(pod, 'pod-info.json'), 'utf8')) as PodInfo;
  const ref = JSON.parse(readFileSync(join(env.dataDir, 'cas', 'refs', `${uuid}.json`), 'utf8')) as { images: string[]; trees: string[] };
  for (const { imageId, treeId } of [info.stage1, ...info.apps]) {
    expect(existsSync(join(env.dataDir, 'cas', 'images', imageId, 'aci')), imageId).toBe(true);
    expect(existsSync(join(env.dataDir, 'cas', 'trees', treeId, 'rootfs')), treeId).toBe(true);
    expect(ref.images).toContain(imageId);
    expect(ref.trees).toContain(treeId);
  }
  for (const app of info.apps) expect(readFileSync(join(pod, 'appsinfo', app.name, 'treeStoreID'), 'utf8')).toBe(app.treeId);
  return info;
}

const oneLine = (r: RktResult) => r.stderr.trimEnd().split('\n');
const REFUSED = /^image rm: image sha512-[0-9a-f]{12} \(example\.com\/[a-z]+\) (is used by pod [0-9a-f-]{36}|is being used by rkt process \d+ to prepare a pod)$/;
/** The concurrent `image gc --grace-period=0s` took it first (before or after `image rm` looked its name up). */
const GONE = /^image rm: no image (named example\.com\/[a-z]+|with ID sha512-[0-9a-f]{128}) in the store$/;

describe('rkt prepare while rkt image rm and rkt image gc run (fly)', () => {
  it('a file image: every pod is prepared whole, whatever moment the removals come at', async () => {
    env = newEnv();
    const app = await buildImage(env.tmp, 'example.com/app');
    let refused = 0;
    for (let round = 0; round < 12; round++) {
      // Trees no pod uses go, so that every prepare renders the image again (the longest window); the
      // image itself stays, unless the last round's rm took it: then the prepare imports it again.
      expect(env.run(['image', 'gc', '--grace-period=1h']).status).toBe(0);
      const prepare = env.start(['prepare', app]);
      // From "before the prepare found the image" to "while it renders".
      await sleep((round * 23) % 260);
      const [rm, gc] = await Promise.all([env.start(['image', 'rm', 'example.com/app']).done, env.start(['image', 'gc', '--grace-period=0s']).done]);
      const prepared = await prepare.done;
      expect(prepared.stderr, `round ${round}`).toBe('');
      expect(prepared.status).toBe(0);
      expect(gc.status, gc.stderr).toBe(0);
      if (rm.status === 0) {
        expect(rm.stdout).toMatch(/^successfully removed aci for image: "sha512-[0-9a-f]{128}"\n$/);
      } else {
        expect(rm.status).toBe(254);
        expect(oneLine(rm), rm.stderr).toHaveLength(1);
        if (REFUSED.test(rm.stderr.trimEnd())) refused++;
        else expect(rm.stderr.trimEnd()).toMatch(GONE);
      }
      const info = expectPodWhole(prepared.stdout.trim());
      // Whichever won, the pod's image is in the store now.
      expect(env.run(['image', 'list', '--no-legend', '--full', '--fields=id']).stdout).toContain(info.apps[0]!.imageId);
      expect(env.run(['rm', prepared.stdout.trim()]).status).toBe(0);
    }
    // Most rounds meet the render; the early ones may come before the prepare holds the image.
    expect(refused).toBeGreaterThan(0);
    expect(env.run(['image', 'gc', '--grace-period=0s']).status).toBe(0);
    expect(env.run(['image', 'list', '--no-legend']).stdout).toBe('');
  }, 300_000);

  it('an image with a dependency, by ID: a removal that meets the prepare is refused, and a pod never references what is gone', async () => {
    // The store every round starts from, made once: both images fetched, then their trees taken out, so that
    // the prepare renders them. Fetching them again in each round (rendering 3,000 files only for gc to take
    // them out) was most of this test's time.
    const template = newEnv();
    const base = await buildImage(template.tmp, 'example.com/base');
    const app = await buildImage(template.tmp, 'example.com/layered', [{ imageName: 'example.com/base' }]);
    for (const f of [base, app]) {
      // `new`: the dependency is the base just fetched, not one looked for through discovery.
      const r = template.run(['fetch', '--pull-policy=new', f]);
      if (r.status !== 0) throw new Error(`fetch ${f} failed: ${r.stderr}`);
    }
    const appId = template.run(['image', 'list', '--no-legend', '--full', '--fields=id,name']).stdout.split('\n').find((l) => l.includes('layered'))!.split(/\s+/)[0]!;
    expect(template.run(['image', 'gc', '--grace-period=1h']).status).toBe(0);
    let prepared = 0;
    // Six rounds spread the removals over a prepare's first 185 ms; under load a prepare may not have reached its
    // images by then in any of them, so later rounds (until one prepare wins, at most 14) wait longer.
    for (let round = 0; round < 6 || (prepared === 0 && round < 14); round++) {
      // Each round on its own copy of the template (a plain copy: the removals unlink, the index is rewritten).
      env = newEnv();
      const copied = spawnSync('cp', ['-a', template.dataDir, env.dataDir], { encoding: 'utf8' });
      expect(copied.status, copied.stderr).toBe(0);
      // `never`: a dependency removed before the prepare found it is refused, not looked for through discovery.
      const prepare = env.start(['prepare', '--pull-policy=never', appId]);
      await sleep(round < 6 ? (round * 37) % 260 : 250 * (round - 5));
      const removals = await Promise.all([
        env.start(['image', 'rm', 'example.com/base']).done,
        env.start(['image', 'rm', 'example.com/layered']).done,
        env.start(['image', 'gc', '--grace-period=0s']).done,
      ]);
      const p = await prepare.done;
      for (const r of removals.slice(0, 2)) {
        if (r.status !== 0) expect(r.stderr.trimEnd(), r.stderr).toMatch(new RegExp(`${REFUSED.source}|${GONE.source}`));
      }
      expect(removals[2]!.status, removals[2]!.stderr).toBe(0);
      if (p.status === 0) {
        prepared++;
        expect(p.stderr).toBe('');
        expectPodWhole(p.stdout.trim());
        // Its images were never removed: both rm refused, naming the pod or the process preparing it.
        expect(removals.slice(0, 2).map((r) => r.status)).toEqual([254, 254]);
        expect(env.run(['rm', p.stdout.trim()]).status).toBe(0);
      } else {
        // Only a removal that came before the prepare found the image (or, by ID, its dependency) fails it,
        // in one line saying what is missing (the dependency: missing when the prepare looked, or removed after
        // that and before the render); never "removed while ... was being rendered".
        expect(p.status).toBe(254);
        expect(oneLine(p), p.stderr).toHaveLength(1);
        expect(p.stderr).toMatch(new RegExp('^prepare: (no image with ID sha512-[0-9a-f]+ in the store' +
          '|dependency example\\.com/base of example\\.com/layered \\(sha512-[0-9a-f]{12}\\) is not in the store' +
          '|dependency example\\.com/base of example\\.com/layered is not in the store and the pull policy is "never")$', 'm'));
        expect(removals.some((r) => r.status === 0)).toBe(true);
        expect(env.podUuids()).toEqual([]);
      }
      await cleanup(env);
    }
    expect(prepared).toBeGreaterThan(0);
  }, 300_000);
});

describe('a failed rkt prepare leaves the store as it was (fly)', () => {
  it('takes out the images it imported (the stage1 too), and keeps those stored before it', async () => {
    env = newEnv();
    const top = await buildImage(env.tmp, 'example.com/top', [{ imageName: 'example.com/base' }]);
    const app = await buildImage(env.tmp, 'example.com/app');
    const listed = () => env.run(['image', 'list', '--no-legend', '--full', '--fields=id']).stdout.trim().split('\n').filter((l) => l !== '').sort();

    // The dependency is not in the store, and `never` forbids fetching it (integration-tests/fetch has it fetched).
    const missing = env.run(['prepare', '--pull-policy=never', top]);
    expect(missing.stderr).toBe('prepare: dependency example.com/base of example.com/top is not in the store and the pull policy is "never"\n');
    expect(missing).toMatchObject({ status: 254, stdout: '' });
    expect(listed()).toEqual([]);
    // An app refused after its image was imported: the same.
    const refused = env.run(['prepare', app, '--exec=']);
    expect(refused.stderr).toBe('prepare: app "app": exec is an empty string; give a program with --exec\n');
    expect(refused.status).toBe(254);
    expect(listed()).toEqual([]);

    // Stored before: kept.
    const stored = [env.run(['fetch', '--full', app]).stdout.trim(), env.run(['fetch', '--full', fly!.aci]).stdout.trim()].sort();
    expect(env.run(['prepare', '--pull-policy=never', top]).status).toBe(254);
    expect(env.run(['prepare', app, '--exec=']).status).toBe(254);
    expect(listed()).toEqual(stored);
    expect(env.podUuids()).toEqual([]);
    expect(readdirSync(join(env.dataDir, 'cas', 'tmp'))).toEqual([]);
  }, 120_000);
});
