// A data directory moved with its pods in it (rsync and a bind mount, or `mv` and another --dir), as rkt's
// could be: its pods and image references must still be found where the directory is now. Once with pods this
// rkt-ts made (fly, busybox), `mv`ed with an exited pod's rootfs still mounted; once with a store and pods an
// older rkt-ts wrote (a compat fixture, whose files name the directory it was made in), extracted at a fresh
// path and not rewritten.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { filesNaming } from '../compat/files-naming.js';
import { buildBusyboxAci, ensureBuilt, rktBin, RktEnv, STAGE1S, type RktResult } from './harness.js';

const fly = STAGE1S.find((s) => s.name === 'fly')!;
const FIXTURE = fileURLToPath(new URL('../compat/fixtures/1249fc6', import.meta.url));

let env: RktEnv | undefined;
let extracted = '';

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
  if (extracted !== '') {
    await unmountTree(extracted, { lazy: true }).catch(() => {});
    rmSync(extracted, { recursive: true, force: true });
    expect(mounts(extracted)).toEqual([]);
    extracted = '';
  }
});

function mounts(below: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === below || p.startsWith(`${below}/`)));
}

function rkt(dir: string, args: readonly string[]): RktResult {
  const r = spawnSync(rktBin, [`--dir=${dir}`, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(dir: string, args: readonly string[]): string {
  const r = rkt(dir, args);
  expect(r.status, `rkt ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const listed = (dir: string): [string, string][] =>
  (JSON.parse(ok(dir, ['list', '--format=json'])) as { name: string; state: string }[]).map((p) => [p.name, p.state]);

/**
 * What a user checks after the move: the pods listed as they were, `rkt image gc` keeping every image and
 * tree they use (listed, and verified), the exited pods collected with no mount left, and the prepared pod
 * running.
 */
function checkMoved(
  dir: string,
  o: { exited: [uuid: string, state: string][]; prepared: string; images: string[]; trees: string[] },
): void {
  expect(listed(dir).sort()).toEqual([...o.exited, [o.prepared, 'prepared']].sort());
  for (const [u, state] of [...o.exited, [o.prepared, 'prepared']]) expect((JSON.parse(ok(dir, ['status', '--format=json', u!])) as { state: string }).state).toBe(state);
  // What run-prepared prints: the arguments of the app's echo, as the pod manifest has them.
  const exec = (JSON.parse(ok(dir, ['cat-manifest', o.prepared])) as { apps: { app: { exec: string[] } }[] }).apps[0]!.app.exec;

  // The pods' references still keep what they use, the prepared pod's and the exited ones'.
  ok(dir, ['image', 'gc', '--grace-period=0s']);
  const images = (JSON.parse(ok(dir, ['image', 'list', '--format=json'])) as { id: string }[]).map((i) => i.id);
  expect(images.sort()).toEqual([...o.images].sort());
  for (const t of o.trees) expect(existsSync(join(dir, 'cas', 'trees', t)), t).toBe(true);
  const verified = ok(dir, ['image', 'verify', '--no-repair', ...o.images]).trim().split('\n');
  for (const line of verified) expect(line).toMatch(/: ok$/);
  for (const t of o.trees) expect(verified.some((l) => l.includes(`tree ${t.slice(0, 'deps-sha512-'.length + 12)}`)), t).toBe(true);

  // With --debug, which says when the pod's stage1 gc could not be run (its stage1/rootfs link dangling). The
  // prepared pod must stay: an older rkt-ts's (the fixture's) was prepared when the fixture was made, which rkt's
  // default --expire-prepared (24h) would count against it once the fixture is a day old.
  const gc = rkt(dir, ['--debug', 'gc', '--grace-period=0s', '--expire-prepared=87600h']);
  expect(gc.status, gc.stderr).toBe(0);
  expect(gc.stderr).not.toMatch(/removing the pod anyway|no stage1 gc|not using the stage1 gc module/);
  for (const [u] of o.exited) expect(gc.stdout).toContain(`Garbage collecting pod "${u}"`);
  expect(listed(dir)).toEqual([[o.prepared, 'prepared']]);
  expect(mounts(dir)).toEqual([]);

  const run = rkt(dir, ['run-prepared', o.prepared]);
  expect([run.status, run.stdout, run.stderr]).toEqual([0, `${exec.slice(1).join(' ')}\n`, '']);
  expect(listed(dir)).toEqual([[o.prepared, 'exited']]);
  // Relative, wherever the data directory is: a new pod's as made, an older rkt-ts's mended on its way to run.
  expect(isAbsolute(readlinkSync(join(dir, 'pods', 'run', o.prepared, 'stage1', 'rootfs')))).toBe(false);
  const again = rkt(dir, ['gc', '--grace-period=0s']);
  expect([again.status, again.stderr]).toEqual([0, '']);
  expect(again.stdout).toContain(`Garbage collecting pod "${o.prepared}"`);
  expect(listed(dir)).toEqual([]);
  expect(mounts(dir)).toEqual([]);
}

describe('a data directory moved with its pods in it', () => {
  it('pods this rkt-ts made: listed, run and collected, and their images kept, at the new path', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const before = env.dataDir;
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const prepare = env.run(['prepare', '--quiet', aci, '--exec=/bin/echo', '--', 'prepared-ran']);
    expect(prepare.status, prepare.stderr).toBe(0);
    const prepared = prepare.stdout.trim();
    const exited = listed(before).find(([u]) => u !== prepared)![0];
    const images = (JSON.parse(ok(before, ['image', 'list', '--format=json'])) as { id: string }[]).map((i) => i.id);
    const info = JSON.parse(readFileSync(join(before, 'pods', 'prepared', prepared, 'pod-info.json'), 'utf8')) as {
      stage1: { treeId: string };
      apps: { treeId: string }[];
    };
    const trees = [info.stage1.treeId, info.apps[0]!.treeId];
    // The exited pod's rootfs is still mounted (gc unmounts it): the move takes the mount along.
    expect(mounts(before).length).toBeGreaterThan(0);
    const moved = join(env.tmp, 'moved');
    renameSync(before, moved); // mv
    expect(existsSync(before)).toBe(false);
    checkMoved(moved, { exited: [[exited, 'exited']], prepared, images, trees });
  });

  it('nothing in a data directory names it but the references\' podDirs, kept absolute for older rkt-ts', async () => {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const dir = env.dataDir;
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const prepare = env.run(['prepare', '--quiet', aci]);
    expect(prepare.status, prepare.stderr).toBe(0);
    const uuids = listed(dir).map(([u]) => u);
    // Every other path is relative to it (pod-info.json's lower, the stage1/rootfs links, the references'
    // podPaths): a format that starts recording it elsewhere fails here by name.
    const naming = filesNaming(dir, dir);
    expect(naming).toEqual(uuids.map((u) => `cas/refs/${u}.json`).sort());
    for (const f of naming) {
      const ref = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { podDirs: string[]; podPaths: string[] };
      expect(JSON.stringify({ ...ref, podDirs: [] })).not.toContain(dir);
      expect(ref.podPaths).toEqual(ref.podDirs.map((d) => d.slice(dir.length + 1)));
    }
  });

  /** A fly test's data directory whose `pods` is a symlink to another disk's, and a busybox image. */
  async function podsElsewhere(): Promise<{ aci: string; dir: string; elsewhere: string; tmp: string }> {
    env = new RktEnv(fly);
    const aci = await buildBusyboxAci(env.tmp);
    const dir = env.dataDir;
    const elsewhere = join(env.tmp, 'other-disk', 'pods');
    mkdirSync(elsewhere, { recursive: true });
    mkdirSync(dir);
    symlinkSync(elsewhere, join(dir, 'pods'));
    return { aci, dir, elsewhere, tmp: env.tmp };
  }

  it('pods kept elsewhere (`pods` a symlink to another disk): prepared, run and collected', async () => {
    const { aci, dir, elsewhere, tmp } = await podsElsewhere();
    // A relative stage1/rootfs link resolved from the other disk, and the stage1 could not be started.
    const prepared = ok(dir, ['--insecure-options=image', 'prepare', '--quiet', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/echo', '--', 'prepared-ran']).trim();
    const run = rkt(dir, ['run-prepared', prepared]);
    expect([run.status, run.stdout, run.stderr]).toEqual([0, 'prepared-ran\n', '']);
    const direct = rkt(dir, ['--insecure-options=image', 'run', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/echo', '--', 'run-ran']);
    expect([direct.status, direct.stdout, direct.stderr]).toEqual([0, 'run-ran\n', '']);
    expect(listed(dir).map(([, state]) => state)).toEqual(['exited', 'exited']);
    // The data directory moved, its pods left where they are: a prepared pod's link is mended on its way to run.
    const later = ok(dir, ['--insecure-options=image', 'prepare', '--quiet', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/echo', '--', 'moved-ran']).trim();
    const moved = join(tmp, 'moved');
    renameSync(dir, moved);
    const movedRun = rkt(moved, ['run-prepared', later]);
    expect([movedRun.status, movedRun.stdout, movedRun.stderr]).toEqual([0, 'moved-ran\n', '']);
    expect(readlinkSync(join(elsewhere, 'run', later, 'stage1', 'rootfs')).startsWith(`${moved}/`)).toBe(true);
    const gc = rkt(moved, ['--debug', 'gc', '--grace-period=0s']);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.stderr).not.toMatch(/removing the pod anyway|no stage1 gc|not using the stage1 gc module/);
    expect(listed(moved)).toEqual([]);
    expect(readdirSync(join(elsewhere, 'garbage'))).toEqual([]);
    expect(mounts(tmp)).toEqual([]);
  });

  it('pods kept elsewhere with the relative stage1/rootfs link a session-19 rkt-ts wrote: run-prepared mends it', async () => {
    const { aci, dir, elsewhere, tmp } = await podsElsewhere();
    const prepared = ok(dir, ['--insecure-options=image', 'prepare', '--quiet', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/echo', '--', 'old-link-ran']).trim();
    const podDir = join(elsewhere, 'prepared', prepared);
    const { stage1 } = JSON.parse(readFileSync(join(podDir, 'pod-info.json'), 'utf8')) as { stage1: { treeId: string } };
    // What that build wrote: up four from the pod's stage1 and down to the tree, which from the other disk
    // lands beside its pods, where no tree is.
    const link = join(podDir, 'stage1', 'rootfs');
    const old = join('..', '..', '..', '..', 'cas', 'trees', stage1.treeId, 'rootfs');
    rmSync(link);
    symlinkSync(old, link);
    expect(existsSync(link)).toBe(false);
    const run = rkt(dir, ['run-prepared', prepared]);
    expect([run.status, run.stdout, run.stderr]).toEqual([0, 'old-link-ran\n', '']);
    expect(readlinkSync(join(elsewhere, 'run', prepared, 'stage1', 'rootfs'))).toBe(join(dir, 'cas', 'trees', stage1.treeId, 'rootfs'));
    const gc = rkt(dir, ['--debug', 'gc', '--grace-period=0s']);
    expect(gc.status, gc.stderr).toBe(0);
    expect(gc.stderr).not.toMatch(/removing the pod anyway|no stage1 gc|not using the stage1 gc module/);
    expect(listed(dir)).toEqual([]);
    expect(mounts(tmp)).toEqual([]);
  });

  it('a store and pods an older rkt-ts wrote, at a path other than the one they name', () => {
    const fx = JSON.parse(readFileSync(`${FIXTURE}.json`, 'utf8')) as {
      short: string;
      dataDir: string;
      image: { id: string; treeId: string; dependencies: { id: string }[] };
      stage1: { id: string; treeId: string };
      pods: { exitedGarbage: { uuid: string }; exited: { uuid: string }; prepared: { uuid: string } };
    };
    extracted = mkdtempSync(join(process.env['RKT_TEST_VAR_TMP'] ?? '/var/tmp', 'rkt-ts-relocate-'));
    const x = spawnSync('tar', ['-xJf', `${FIXTURE}.tar.xz`, '-C', extracted], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    const dir = join(extracted, fx.short);
    // What that version wrote names the directory it was made in, which is not here.
    expect(existsSync(fx.dataDir)).toBe(false);
    const { prepared, exited, exitedGarbage } = fx.pods;
    const podDir = join(dir, 'pods', 'prepared', prepared.uuid);
    expect((JSON.parse(readFileSync(join(podDir, 'pod-info.json'), 'utf8')) as { apps: { lower: string }[] }).apps[0]!.lower.startsWith(`${fx.dataDir}/`)).toBe(true);
    expect(readlinkSync(join(podDir, 'stage1', 'rootfs')).startsWith(`${fx.dataDir}/`)).toBe(true);
    expect(readFileSync(join(dir, 'cas', 'refs', `${prepared.uuid}.json`), 'utf8')).toContain(`"${fx.dataDir}/pods/`);

    checkMoved(dir, {
      exited: [
        [exitedGarbage.uuid, 'exited garbage'],
        [exited.uuid, 'exited'],
      ],
      prepared: prepared.uuid,
      images: [fx.image.id, ...fx.image.dependencies.map((d) => d.id), fx.stage1.id],
      // The trees the pods mount (the app's holds its dependency's layer); the dependency's own is no pod's.
      trees: [fx.image.treeId, fx.stage1.treeId],
    });
  });
});
