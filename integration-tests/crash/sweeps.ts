// The sweeps of the crash tests, one per command that writes state: each chooses its kill points from a run
// of the command (kill-sweep.ts), kills it at each, and after each kill runs the checks a user would
// (expectRecovers) and the same command again, which must work.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openStore } from '@rkt/image-store';
import { beforeAll, expect } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, RktEnv, STAGE1S } from '../pods/harness.js';
import { chooseKillPoints, entries, expectRecovers, killAt, pointCount, straceMissing, sweep, type KillPoint, type KilledRun } from './kill-sweep.js';

/** Kill points in the main thread per sweep (a third as many again in other threads); RKT_KILL_POINTS for more. */
const POINTS = 12;
/** On a loaded machine a sweep took up to 4x its quiet time. */
export const SWEEP_TIMEOUT = 300_000;
const fly = STAGE1S.find((s) => s.name === 'fly')!;

/** A busybox ACI built once for the test file (its path once `beforeAll` ran), and strace checked for. */
export function useBusyboxAci(): { readonly path: string } {
  beforeAll(() => {
    ensureBuilt();
    const missing = straceMissing();
    if (missing !== undefined) throw new Error(missing);
  }, 600_000);
  return busyboxAciOfFile();
}

const listedIds = (env: RktEnv): string[] =>
  env.run(['image', 'list', '--no-legend', '--full', '--fields=id']).stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();

/** `rkt fetch` of the ACI, which must work, and the image it stored with its tree rendered. */
async function fetchWorks(env: RktEnv, aci: string, where: string): Promise<string> {
  const r = env.run(['fetch', '--full', aci]);
  expect(r.status, `${where}: the next fetch: ${r.stderr}`).toBe(0);
  const id = r.stdout.trim();
  const trees = await (await openStore({ dir: env.dataDir })).trees();
  expect(trees.map((t) => t.layers), `${where}: the next fetch's tree`).toEqual([[id]]);
  return id;
}

/** `rkt run` of the image (fly), which must work; the exited pod's UUID. */
function runWorks(env: RktEnv, aci: string, where: string): string {
  const before = new Set(env.podUuids());
  const r = env.run(['run', aci]);
  expect(r.status, `${where}: the next rkt run: ${r.stderr}`).toBe(0);
  expect(r.stdout, `${where}: the next rkt run's output`).toContain('image-default');
  const made = env.podUuids().filter((u) => !before.has(u));
  expect(made, `${where}: the next rkt run's pod`).toHaveLength(1);
  return made[0]!;
}

/** A pod the kill left prepared is whole: it runs (and the next gc removes it). */
function preparedPodsRun(env: RktEnv, where: string, except?: string): void {
  for (const uuid of entries(join(env.dataDir, 'pods', 'prepared')).filter((u) => u !== except)) {
    const r = env.run(['run-prepared', uuid]);
    expect(r.status, `${where}: run-prepared of the pod left prepared: ${r.stderr}`).toBe(0);
  }
}

/**
 * A command run in a new, empty data directory (`rkt fetch`, `rkt run` of a file ACI): every point gets a
 * directory of its own; after the kill, the same command must work there.
 */
export async function emptyStoreSweep(name: string, aci: string, args: string[], stage1: boolean): Promise<void> {
  const first = new RktEnv(stage1 ? fly : undefined);
  let found;
  let ids: string[];
  try {
    found = await chooseKillPoints(first, args, pointCount(POINTS));
    ids = listedIds(first);
  } finally {
    await first.cleanup();
  }
  await sweep(found.points, async (p) => {
    const env = new RktEnv(stage1 ? fly : undefined);
    try {
      const k = await killAt(env, args, p);
      const where = `${name} killed at ${k.at}`;
      await expectRecovers(env, where, { mayList: ids });
      if (stage1) {
        preparedPodsRun(env, where);
        runWorks(env, aci, where);
      } else {
        await fetchWorks(env, aci, where);
      }
      return k;
    } finally {
      await env.cleanup();
    }
  });
}

/** `rkt image rm` or `rkt image gc` of the fetched image, which the checks after each kill fetch again. */
export async function imageSweep(name: string, aci: string, args: string[]): Promise<void> {
  const env = new RktEnv();
  try {
    const id = await fetchWorks(env, aci, 'set-up');
    const { points } = await chooseKillPoints(env, args, pointCount(POINTS));
    await fetchWorks(env, aci, 'set-up');
    await sweep(points, async (p) => {
      const k = await killAt(env, args, p);
      const where = `${name} killed at ${k.at}`;
      await expectRecovers(env, where, { mayList: [id] });
      await fetchWorks(env, aci, where);
      return k;
    });
  } finally {
    await env.cleanup();
  }
}

/**
 * A pod command in one data directory. The set-up fetches the images and prepares a pod that stays for the
 * whole sweep, so that image gc keeps the trees and every run finds them rendered. Each point starts from what
 * the checks after the last kill left: the images, that pod, and the exited pod of the last `rkt run`, whose
 * UUID `args` gets (for `rkt rm`). The points are chosen from a run made from that state too.
 */
export async function podSweep(name: string, aci: string, args: (lastRun: string) => string[]): Promise<void> {
  const env = new RktEnv(fly);
  try {
    const prepared = env.run(['prepare', '--quiet', aci]);
    expect(prepared.status, prepared.stderr).toBe(0);
    const keeper = prepared.stdout.trim();
    const ids = listedIds(env);
    expect(ids).toHaveLength(2);
    const after = async (where: string): Promise<string> => {
      await expectRecovers(env, where, { mayList: ids, kept: ids });
      preparedPodsRun(env, where, keeper);
      return runWorks(env, aci, where);
    };
    let lastRun = runWorks(env, aci, 'set-up');
    const { points } = await chooseKillPoints(env, args(lastRun), pointCount(POINTS));
    lastRun = await after('the traced run');
    await sweep(points, async (p: KillPoint): Promise<KilledRun> => {
      const k = await killAt(env, args(lastRun), p);
      lastRun = await after(`${name} killed at ${k.at}`);
      return k;
    });
  } finally {
    await env.cleanup();
  }
}

/** The sha512 of an ACI's tar (gunzipped): a partial or damaged file fails to gunzip, or differs. */
function tarDigest(file: string): string {
  return createHash('sha512').update(gunzipSync(readFileSync(file))).digest('hex');
}

/** Whether anyone holds the pod's lock (flock(2) on its directory, wherever the pod is now). */
function podLocked(env: RktEnv, uuid: string): boolean {
  const pods = join(env.dataDir, 'pods');
  const dir = entries(pods).map((state) => join(pods, state, uuid)).find((d) => existsSync(d));
  if (dir === undefined) throw new Error(`pod ${uuid} has no directory`);
  return spawnSync('flock', ['--nonblock', '--exclusive', dir, 'true']).status !== 0;
}

/**
 * `rkt export` of an exited fly pod (its root still mounted) to `out/app.aci` in the test's directory. After each
 * kill a user finds no mount left of the export, the pod still exited and its lock free, `app.aci` absent or
 * whole (the same tar as the next export of the pod, never a partial file), and the next export to the same
 * path works and leaves no temp file beside it (it removes the one the kill left); `rkt rm` of the pod then
 * works. Each point exports a new pod: the last run's.
 */
export async function exportSweep(aci: string): Promise<void> {
  const env = new RktEnv(fly);
  try {
    const outDir = join(env.tmp, 'out');
    mkdirSync(outDir);
    const out = join(outDir, 'app.aci');
    const args = (uuid: string) => ['export', uuid, out];
    let uuid = runWorks(env, aci, 'set-up');
    const { points } = await chooseKillPoints(env, args(uuid), pointCount(POINTS), [outDir]);
    await sweep(points, async (p: KillPoint): Promise<KilledRun> => {
      rmSync(out, { force: true });
      const mounts = env.mounts();
      const k = await killAt(env, args(uuid), p);
      const where = `rkt export killed at ${k.at}`;
      expect(env.mounts(), `${where}: mounts`).toEqual(mounts);
      expect(env.status(uuid).state, `${where}: the pod's state`).toBe('exited');
      expect(podLocked(env, uuid), `${where}: the pod's lock is held`).toBe(false);
      const left = existsSync(out) ? tarDigest(out) : undefined;
      const again = env.run(['export', '--overwrite', uuid, out]);
      expect(again, `${where}: the next export`).toEqual({ status: 0, stdout: '', stderr: '' });
      expect(readdirSync(outDir), `${where}: beside the next export`).toEqual(['app.aci']);
      if (left !== undefined) expect(left, `${where}: the app.aci the kill left`).toBe(tarDigest(out));
      const rm = env.run(['rm', uuid]);
      expect(rm.status, `${where}: rkt rm: ${rm.stderr}`).toBe(0);
      expect(env.mounts(), `${where}: mounts after rkt rm`).toEqual([]);
      uuid = runWorks(env, aci, where);
      return k;
    });
  } finally {
    await env.cleanup();
  }
}

/** Every entry under `dir`, as `path type size`, sorted: what a user would compare two trees by. */
function treeListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${relative(dir, p)} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.isFile() ? st.size : 0}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * `rkt image extract --overwrite` of the fetched image over `out`, which holds its rootfs alone (an earlier
 * `--rootfs-only` extraction: another tree than the one replacing it). After each kill `out` is the old tree or
 * the new one, whole, never a part of either: or, killed between the two renames, missing, with the old tree
 * beside it, which the next extraction puts back before replacing it. The next extraction works and leaves
 * nothing beside `out`.
 */
export async function extractSweep(aci: string): Promise<void> {
  const env = new RktEnv();
  try {
    await fetchWorks(env, aci, 'set-up');
    const outDir = join(env.tmp, 'extracts');
    mkdirSync(outDir);
    const out = join(outDir, 'out');
    const image = 'example.com/busybox';
    const oldTree = (where: string): string[] => {
      rmSync(out, { recursive: true, force: true });
      const r = env.run(['image', 'extract', '--rootfs-only', image, out]);
      expect(r, `${where}: the --rootfs-only extraction`).toEqual({ status: 0, stdout: '', stderr: '' });
      return treeListing(out);
    };
    const args = ['image', 'extract', '--overwrite', image, out];
    const old = oldTree('set-up');
    const { points } = await chooseKillPoints(env, args, pointCount(POINTS), [outDir]);
    const whole = treeListing(out);
    expect(whole).not.toEqual(old);
    await sweep(points, async (p: KillPoint): Promise<KilledRun> => {
      oldTree('before the kill');
      const k = await killAt(env, args, p);
      const where = `rkt image extract killed at ${k.at}`;
      if (existsSync(out)) {
        expect([old, whole], `${where}: what is under the name`).toContainEqual(treeListing(out));
      } else {
        const aside = readdirSync(outDir).filter((n) => n.startsWith('.out.old-'));
        expect(aside, `${where}: no tree under the name, and none aside`).toHaveLength(1);
        expect(treeListing(join(outDir, aside[0]!)), `${where}: the tree aside`).toEqual(old);
      }
      await expectRecovers(env, where, { mayList: listedIds(env) });
      const again = env.run(args);
      expect(again, `${where}: the next extraction`).toEqual({ status: 0, stdout: '', stderr: '' });
      expect(readdirSync(outDir), `${where}: beside the next extraction`).toEqual(['out']);
      expect(treeListing(out), `${where}: the next extraction's tree`).toEqual(whole);
      return k;
    });
  } finally {
    await env.cleanup();
  }
}
