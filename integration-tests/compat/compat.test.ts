// The stability promise with real old data: a store and pods that an older rkt-ts wrote (fixtures/, made by
// tools/compat/make-fixture.mjs with that commit's own build) open with the current bin/rkt, which lists,
// verifies, runs and collects them as a user would, and upgrades their formats in place.
//
// Each run extracts the fixtures under its own fresh directory (/var/tmp/rkt-ts-compat-XXXXXX/<commit>),
// removed after, mounts included, even when a test fails, so that runs at once share nothing. That is not
// where the fixture was made, whose absolute path the older formats record (pod-info.json's `lower`, the
// pods' stage1/rootfs links, cas/refs' podDirs): they are read as they are, as a data directory moved with its
// pods in it, which rkt-ts finds where it is now.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_INTERFACE_VERSIONS, POD_FORMAT_VERSION } from '@rkt/controller';
import { LAYOUT_VERSION, INDEX_VERSION, SNAPSHOT_VERSION } from '@rkt/image-store';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureBuilt, repoRoot, rktBin } from '../pods/harness.js';
import { filesNaming } from './files-naming.js';

const FIXTURES = fileURLToPath(new URL('fixtures/', import.meta.url));
const CURRENT_FLY = join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci');

/** What make-fixture.mjs recorded beside each archive: what it made, and the formats it found on disk. */
interface Fixture {
  commit: string;
  short: string;
  subject: string;
  date: string;
  dataDir: string;
  image: {
    name: string;
    version: string;
    id: string;
    treeId: string;
    /** Since 1249fc6's fixture: the image it depends on (holding its /echo), by name, labels and image ID. */
    dependencies?: { name: string; version: string; id: string; treeId: string | null }[];
  };
  stage1: { name: string; version: string; id: string; treeId: string; interfaceVersion: string };
  pods: {
    exitedGarbage: { uuid: string; exitCode: number };
    exited: { uuid: string; exitCode: number };
    prepared: { uuid: string };
  };
  formats: {
    layout: { layoutVersion: number };
    snapshot: { snapshotVersion: number } | null;
    trees: { id: string; imageId: string; contentHash: string }[];
    podFormatVersion: number;
  };
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Fixture)
  .sort((a, b) => a.date.localeCompare(b.date));

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface ListedPod {
  name: string;
  state: string;
  images: { id: string }[];
}

interface Snapshot {
  snapshotVersion: number;
  indexVersion: number;
  images: { id: string }[];
  trees: { id: string; contentHash: string }[];
}

function mountsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)));
}

const chattr = (flag: string, path: string) => spawnSync('chattr', [flag, path], { encoding: 'utf8' });

async function removeDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    await unmountTree(dir, { lazy: true }).catch(() => {});
    // A failed gc test may have left its immutable file behind.
    spawnSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' });
  }
  rmSync(dir, { recursive: true, force: true });
}

/** This run's own directory, each fixture extracted in it; made before the fixtures' suites, removed after. */
let root = '';

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(process.env['RKT_TEST_VAR_TMP'] ?? '/var/tmp', 'rkt-ts-compat-'));
});

afterAll(async () => {
  if (root === '') return;
  await removeDir(root);
  expect(mountsBelow(root)).toEqual([]);
  expect(existsSync(root)).toBe(false);
});

test('the fixtures are the archives of fixtures/, each with its record', () => {
  const archives = readdirSync(FIXTURES).filter((f) => f.endsWith('.tar.xz')).map((f) => f.slice(0, -'.tar.xz'.length));
  expect(fixtures.map((fx) => fx.short).sort()).toEqual(archives.sort());
  expect(fixtures.length).toBeGreaterThanOrEqual(2);
});

describe.each(fixtures.map((fx) => [`${fx.short} (${fx.date.slice(0, 10)})`, fx] as const))('a store and pods written by rkt-ts %s', (_, fx) => {
  let dir = '';
  const { exitedGarbage, exited, prepared } = fx.pods;
  const deps = fx.image.dependencies ?? [];
  const imageIds = [fx.image.id, ...deps.map((d) => d.id), fx.stage1.id].sort();
  const undo: (() => void)[] = [];
  // Every stage1 interface version an rkt-ts wrote is one this stage0 drives; if that changes, a pod or a
  // run on that stage1 must be refused in one line.
  const oldStage1Driven = (SUPPORTED_INTERFACE_VERSIONS as readonly number[]).includes(Number(fx.stage1.interfaceVersion));
  const expectRefused = (r: Result): void => {
    expect(r.status).toBe(254);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`stage1 interface version "${fx.stage1.interfaceVersion}" is not supported`);
  };

  function rkt(args: readonly string[]): Result {
    const r = spawnSync(rktBin, [`--dir=${dir}`, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  function ok(args: readonly string[]): string {
    const r = rkt(args);
    expect(r.status, `rkt ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  }
  const listed = (): ListedPod[] => JSON.parse(ok(['list', '--format=json'])) as ListedPod[];
  const snapshot = (): Snapshot => JSON.parse(readFileSync(join(dir, 'cas', 'images.json'), 'utf8')) as Snapshot;
  const podInfo = (state: string, uuid: string): { formatVersion: number; stage1: { imageId: string }; apps: { treeId: string }[] } =>
    JSON.parse(readFileSync(join(dir, 'pods', state, uuid, 'pod-info.json'), 'utf8')) as ReturnType<typeof podInfo>;

  beforeAll(() => {
    dir = join(root, fx.short);
    const x = spawnSync('tar', ['-xJf', join(FIXTURES, `${fx.short}.tar.xz`), '-C', root], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    // Where that version wrote the path it was made at, which is not here: each pod's reference and, before pod
    // format version 2, its pod-info.json and stage1 link; nothing else, since rkt-ts looks for a moved data
    // directory's pods and trees only there.
    expect(existsSync(fx.dataDir)).toBe(false);
    const states = { exitedGarbage: 'exited-garbage', exited: 'run', prepared: 'prepared' } as const;
    const pods = Object.entries(fx.pods).map(([k, p]) => [states[k as keyof typeof states], p.uuid] as const);
    const absolutePods = fx.formats.podFormatVersion < 2;
    expect(filesNaming(dir, fx.dataDir)).toEqual(
      pods
        .flatMap(([state, uuid]) => [
          `cas/refs/${uuid}.json`,
          ...(absolutePods ? [`pods/${state}/${uuid}/pod-info.json`, `pods/${state}/${uuid}/stage1/rootfs`] : []),
        ])
        .sort(),
    );
  });

  afterAll(async () => {
    // The pods are fly pods that end by themselves; an rkt that hung was killed by spawnSync's timeout.
    for (const u of undo.splice(0)) u();
    await removeDir(dir);
    expect(existsSync(dir)).toBe(false);
  });

  test('rkt image list shows the image, its dependencies and the stage1, and the snapshot is rewritten in the current format', () => {
    expect(fx.formats.snapshot?.snapshotVersion ?? 0).toBeLessThanOrEqual(SNAPSHOT_VERSION);
    const images = JSON.parse(ok(['image', 'list', '--format=json'])) as { id: string; name: string }[];
    expect(images.map((i) => [i.id, i.name]).sort()).toEqual(
      [
        [fx.image.id, `${fx.image.name}:${fx.image.version}`],
        ...deps.map((d) => [d.id, `${d.name}:${d.version}`]),
        [fx.stage1.id, `${fx.stage1.name}:${fx.stage1.version}`],
      ].sort(),
    );
    const s = snapshot();
    expect([s.snapshotVersion, s.indexVersion]).toEqual([SNAPSHOT_VERSION, INDEX_VERSION]);
    expect(s.images.map((i) => i.id).sort()).toEqual(imageIds);
    expect(JSON.parse(readFileSync(join(dir, 'cas', 'layout.json'), 'utf8'))).toEqual({ layoutVersion: LAYOUT_VERSION });
  });

  test('rkt image verify passes: the images and their trees, with the tree hashes that version recorded', () => {
    const out = ok(['image', 'verify', '--no-repair', ...imageIds]);
    const lines = out.trim().split('\n');
    // Each image, and each tree rendered of it.
    const trees = [fx.image.treeId, fx.stage1.treeId, ...deps.flatMap((d) => (d.treeId === null ? [] : [d.treeId]))];
    expect(lines).toHaveLength(imageIds.length + trees.length);
    for (const l of lines) expect(l).toMatch(/: ok$/);
    for (const t of trees) expect(out).toContain(`: tree ${t.slice(0, 'deps-sha512-'.length + 12)}: ok`);
    // Verified as they were made (a version-1 `sha256-` hash stays one), not rendered or hashed again.
    const hashes = Object.fromEntries(snapshot().trees.map((t) => [t.id, t.contentHash]));
    for (const t of fx.formats.trees) expect(hashes[t.id], t.id).toBe(t.contentHash);
  });

  test('rkt list shows the pods in their states; status and cat-manifest of each work', () => {
    const pods = listed();
    expect(pods.map((p) => [p.name, p.state]).sort()).toEqual(
      [
        [exitedGarbage.uuid, 'exited garbage'],
        [exited.uuid, 'exited'],
        [prepared.uuid, 'prepared'],
      ].sort(),
    );
    for (const p of pods) expect(p.images.map((i) => i.id)).toEqual([fx.image.id]);

    for (const [uuid, state, code] of [
      [exitedGarbage.uuid, 'exited garbage', exitedGarbage.exitCode],
      [exited.uuid, 'exited', exited.exitCode],
      [prepared.uuid, 'prepared', undefined],
    ] as const) {
      const st = JSON.parse(ok(['status', '--format=json', uuid])) as { state: string; apps: { name: string; exit_code?: number }[] };
      expect(st.state).toBe(state);
      expect(st.apps.map((a) => a.exit_code)).toEqual(code === undefined ? [undefined] : [code]);
      const m = JSON.parse(ok(['cat-manifest', uuid])) as { acKind: string; apps: { image: { id: string } }[] };
      expect(m.acKind).toBe('PodManifest');
      expect(m.apps.map((a) => a.image.id)).toEqual([fx.image.id]);
    }
    // The pod format: read as it is (version 1 is the first, nothing to upgrade).
    expect(fx.formats.podFormatVersion).toBeLessThanOrEqual(POD_FORMAT_VERSION);
    expect(podInfo('prepared', prepared.uuid).formatVersion).toBe(fx.formats.podFormatVersion);
  });

  test('rkt run-prepared runs the old prepared pod under its own old stage1', () => {
    const exec = (JSON.parse(ok(['cat-manifest', prepared.uuid])) as { apps: { app: { exec: string[] } }[] }).apps[0]!.app.exec;
    const r = rkt(['run-prepared', prepared.uuid]);
    if (oldStage1Driven) {
      expect(r.status, r.stderr).toBe(0);
      // The arguments that version baked into the pod manifest (it replaced the image's before 34f7105).
      expect(r.stdout).toBe(`${exec.slice(1).join(' ')}\n`);
      expect(JSON.parse(ok(['status', '--format=json', prepared.uuid]))).toMatchObject({ state: 'exited', apps: [{ exit_code: 0 }] });
      expect(podInfo('run', prepared.uuid).stage1.imageId).toBe(fx.stage1.id);
    } else {
      // A stage1 this stage0 no longer speaks to: one line naming the version, 254, the pod left prepared.
      expectRefused(r);
      expect(listed().find((p) => p.name === prepared.uuid)?.state).toBe('prepared');
      // Removable all the same, and out of the way of the steps below.
      expect(ok(['rm', prepared.uuid])).toBe(`"${prepared.uuid}"\n`);
    }
  });

  test('rkt run of the old image works, on its old rendered tree, under the old stage1 and the current one', () => {
    const before = new Set(listed().map((p) => p.name));
    const old = rkt(['run', `--stage1-hash=${fx.stage1.id}`, `${fx.image.name}:${fx.image.version}`, '--', 'old-stage1']);
    if (oldStage1Driven) expect([old.status, old.stdout, old.stderr]).toEqual([0, 'compat-app old-stage1\n', '']);
    else expectRefused(old);
    expect(ok(['run', '--insecure-options=image', `--stage1-path=${CURRENT_FLY}`, `${fx.image.name}:${fx.image.version}`, '--', 'current-stage1'])).toBe(
      'compat-app current-stage1\n',
    );
    const added = listed().filter((p) => !before.has(p.name));
    expect(added.map((p) => p.state)).toEqual(oldStage1Driven ? ['exited', 'exited'] : ['exited']);
    for (const p of added) expect(podInfo('run', p.name).apps[0]!.treeId).toBe(fx.image.treeId);
    // With a dependency, the /echo that ran is the dependency's layer, in the one tree that holds both.
    if (deps.length > 0) expect(readdirSync(join(dir, 'cas', 'trees', fx.image.treeId, 'rootfs')).sort()).toEqual(['compat-app', 'echo']);
  });

  test('rkt gc --grace-period=0s removes the exited pods and leaves no mount; one it cannot delete keeps its images in garbage/ until it can', (ctx) => {
    // An immutable file keeps gc from deleting the old exited pod: gc leaves it in garbage/, as a gc killed
    // between its move and its deletion does, and its images must stay until a later gc deletes it. Its
    // reference in the store is the one that older rkt-ts wrote.
    const stuck = (state: string) => join(dir, 'pods', state, exited.uuid, 'pod');
    const immutable = chattr('+i', stuck('run'));
    // /var/tmp is a filesystem with the flag here (ext4); tmpfs has none.
    if (immutable.status !== 0 && /not supported|Inappropriate ioctl/i.test(immutable.stderr)) ctx.skip(`chattr +i unsupported: ${immutable.stderr.trim()}`);
    expect(immutable.status, immutable.stderr).toBe(0);
    undo.push(() => ['run', 'exited-garbage', 'garbage'].forEach((s) => chattr('-i', stuck(s))));
    const gc = rkt(['gc', '--grace-period=0s']);
    expect(gc.status).toBe(254);
    expect(gc.stderr).toMatch(new RegExp(`^gc: pod ${exited.uuid}: [^\\n]*\\n$`));
    expect(gc.stdout).toContain(`Garbage collecting pod "${exitedGarbage.uuid}"`);
    expect(listed().map((p) => [p.name, p.state])).toEqual([[exited.uuid, 'garbage']]);
    expect(mountsBelow(dir)).toEqual([]);

    ok(['image', 'gc', '--grace-period=0s']);
    const images = JSON.parse(ok(['image', 'list', '--format=json'])) as { id: string }[];
    // The dependencies too: the pod's reference lists them (its tree holds their layers).
    expect(images.map((i) => i.id).sort()).toEqual(imageIds);
    for (const tree of [fx.image.treeId, fx.stage1.treeId]) expect(existsSync(join(dir, 'cas', 'trees', tree)), tree).toBe(true);
    // Its reference now lists garbage/ too (upgraded in place where that version did not), in the data
    // directory it was made in or, relative, in any.
    const ref = JSON.parse(readFileSync(join(dir, 'cas', 'refs', `${exited.uuid}.json`), 'utf8')) as { podDirs: string[]; podPaths?: string[] };
    const garbage = `pods/garbage/${exited.uuid}`;
    expect(ref.podDirs.includes(join(fx.dataDir, garbage)) || ref.podPaths?.includes(garbage), JSON.stringify(ref)).toBe(true);

    expect(chattr('-i', stuck('garbage')).status).toBe(0);
    const again = rkt(['gc', '--grace-period=0s']);
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(`Garbage collecting pod "${exited.uuid}"\n`);
    expect(again.status).toBe(0);
    expect(listed()).toEqual([]);
    for (const state of readdirSync(join(dir, 'pods'))) expect(readdirSync(join(dir, 'pods', state)), state).toEqual([]);
    expect(readdirSync(join(dir, 'cas', 'refs'))).toEqual([]);
    expect(mountsBelow(dir)).toEqual([]);
  });

  test('rkt image rm and rkt image gc remove the old images and their trees', () => {
    ok(['image', 'rm', fx.image.id]);
    ok(['image', 'gc', '--grace-period=0s']);
    expect(JSON.parse(ok(['image', 'list', '--format=json']))).toEqual([]);
    expect(readdirSync(join(dir, 'cas', 'images'))).toEqual([]);
    expect(readdirSync(join(dir, 'cas', 'trees'))).toEqual([]);
    expect(snapshot()).toMatchObject({ snapshotVersion: SNAPSHOT_VERSION, images: [], trees: [] });
  });
});
