// Pod volumes and mounts (`--volume`, `--mount`, image mount points, `--pod-manifest`) with real pods
// on both stage1s: host volumes read-only and read-write, empty volumes (shared by two apps on the
// systemd stage1, which runs several apps), implicit volumes, the symlink-escape case, and the errors
// that must leave nothing behind. Host sources live in the test's temp dir, so even a broken run cannot
// touch anything else.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot, RktEnv, rktBin, type RktResult } from '../pods/harness.js';
import { buildImage } from './images.js';

const STAGE1S = {
  // Copies of the built ACIs may be named instead (the tree's dist/ is rebuilt under a running test).
  fly: process.env.RKT_TEST_FLY_ACI ?? join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci'),
  systemd: process.env.RKT_TEST_SYSTEMD_ACI ?? join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci'),
} as const;

function ensureSystemdStage1(): void {
  if (existsSync(STAGE1S.systemd)) return;
  const r = spawnSync('npm', ['run', 'build', '-w', '@rkt/stage1-systemd'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stage1-systemd build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

beforeAll(() => {
  ensureBuilt();
  ensureSystemdStage1();
}, 600_000);

/** The harness's environment, with `rkt` from RKT_TEST_BIN when set (a copy of a build, as for the ACI). */
class VolumeEnv extends RktEnv {
  override run(args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): RktResult {
    const bin = process.env.RKT_TEST_BIN ?? rktBin;
    const r = spawnSync(bin, this.args(args), { cwd: this.tmp, encoding: 'utf8', timeout: o.timeoutMs ?? 60_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}

let env: RktEnv;
beforeEach(() => {
  env = new VolumeEnv();
});
afterEach(async () => {
  await env.cleanup();
});
/** The stage1 in the store before the test (pods/stage1-store.ts), unless rkt is another build (RKT_TEST_BIN). */
const seed = (aci: string): void => {
  if (process.env.RKT_TEST_BIN === undefined) env.seedStage1(aci);
};

/** A directory of the test (realpath: mountinfo shows resolved paths) with the given files. */
function hostDir(name: string, files: Record<string, string> = {}): string {
  const dir = join(env.tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return realpathSync(dir);
}

/** Mount points under the test's temp dir, from the host's mount table. */
function mountPoints(): string[] {
  return env.mounts().map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** The pods of the data dir, in any state (empty when none was ever created). */
function podDirs(): string[] {
  const pods = join(env.dataDir, 'pods');
  if (!existsSync(pods)) return [];
  return readdirSync(pods).flatMap((state) => readdirSync(join(pods, state)).map((uuid) => `${state}/${uuid}`));
}

function gcAll(): RktResult {
  return env.run(['gc', '--grace-period=0s']);
}

/** The stage1 leaves nothing mounted once the pod is collected. */
function expectCollected(): void {
  const r = gcAll();
  expect(r.status, r.stderr).toBe(0);
  expect(mountPoints()).toEqual([]);
  expect(podDirs()).toEqual([]);
}

describe.each(Object.entries(STAGE1S))('volumes (stage1-%s)', (flavor, stage1) => {
  beforeEach(() => seed(stage1));
  const run = (args: readonly string[]): RktResult => env.run(['run', `--stage1-path=${stage1}`, ...args]);
  /** `sh -c script` in a pod of `aci` with the host directory `src` mounted read-only at /data. */
  const runWithReadOnlyData = (aci: string, src: string, script: string): RktResult =>
    run([`--volume=data,kind=host,source=${src},readOnly=true`, '--mount=volume=data,target=/data', aci, '--exec=/bin/sh', '--', '-c', script]);

  it('a read-only host volume cannot be written inside, and the mount shows in the app\'s mountinfo', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const src = hostDir('ro-src', { 'hello.txt': 'from the host\n' });
    const r = runWithReadOnlyData(aci, src, 'cat /data/hello.txt; if echo x > /data/new 2>/dev/null; then echo WROTE; else echo refused; fi; grep " /data " /proc/self/mountinfo | grep -c " ro,"');
    expect(r.stderr).not.toMatch(/error|cannot/i);
    expect(r.stdout).toBe('from the host\nrefused\n1\n');
    expect(r.status).toBe(0);
    expect(readdirSync(src)).toEqual(['hello.txt']);
    expectCollected();
  });

  it("a read-only host volume keeps its source mount's nosuid, nodev and noexec inside the pod", async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const src = hostDir('noexec-src');
    const tmpfs = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nosuid,nodev,noexec', 'rkt-volumes-test', src], { encoding: 'utf8' });
    expect(tmpfs.status, tmpfs.stderr).toBe(0);
    writeFileSync(join(src, 'tool'), '#!/bin/sh\necho RAN\n', { mode: 0o755 });
    const r = runWithReadOnlyData(aci, src, 'grep " /data " /proc/self/mountinfo | cut -d" " -f6; /data/tool 2>/dev/null || echo refused');
    expect(r.status, r.stderr).toBe(0);
    const [options, ran] = r.stdout.trim().split('\n');
    expect(options!.split(',')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    expect(ran).toBe('refused');
    const gc = gcAll();
    expect(gc.status, gc.stderr).toBe(0);
    // Only the test's own tmpfs is left.
    expect(mountPoints()).toEqual([src]);
  });

  it('a read-write host volume: what the app writes is on the host', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const src = hostDir('rw-src');
    const r = run([`--volume=data,kind=host,source=${src}`, '--mount', 'volume=data,target=/srv/data', aci, '--exec=/bin/sh', '--', '-c', 'echo written-inside > /srv/data/out.txt']);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(src, 'out.txt'), 'utf8')).toBe('written-inside\n');
    expectCollected();
    // gc unmounted the volume before removing the pod: the host's files are still there.
    expect(readFileSync(join(src, 'out.txt'), 'utf8')).toBe('written-inside\n');
  });

  it('an empty volume gets its mode, uid and gid, lives in the pod and goes with it at gc', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const save = join(env.tmp, 'uuid');
    const r = run([
      `--uuid-file-save=${save}`,
      '--volume=scratch,kind=empty,mode=0710,uid=1234,gid=99',
      '--mount=volume=scratch,target=/scratch',
      aci,
      '--exec=/bin/sh',
      '--',
      '-c',
      'stat -c "%a %u %g" /scratch; echo kept > /scratch/file',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('710 1234 99\n');
    const uuid = readFileSync(save, 'utf8').trim();
    expect(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'volumes', 'scratch', 'file'), 'utf8')).toBe('kept\n');
    expectCollected();
  });

  it('a mount point without a volume gets an implicit empty volume, written into the pod manifest', async () => {
    const aci = await buildImage(env.tmp, { name: 'withpoint', mountPoints: [{ name: 'cache', path: '/var/cache/app' }] });
    const save = join(env.tmp, 'uuid');
    const r = run([`--uuid-file-save=${save}`, aci, '--exec=/bin/sh', '--', '-c', 'echo c > /var/cache/app/f && grep -c " /var/cache/app " /proc/self/mountinfo']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\n');
    const uuid = readFileSync(save, 'utf8').trim();
    const manifest = JSON.parse(env.run(['cat-manifest', uuid]).stdout) as { volumes?: unknown[] };
    expect(manifest.volumes).toEqual([{ name: 'cache', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
    expect(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'volumes', 'cache', 'f'), 'utf8')).toBe('c\n');
    expectCollected();
  });

  it('a mount point served by a --volume of its name; readOnly on the volume wins over the mount point', async () => {
    const aci = await buildImage(env.tmp, { name: 'withpoint', mountPoints: [{ name: 'conf', path: '/etc/app', readOnly: true }] });
    const src = hostDir('conf-src', { 'app.conf': 'x=1\n' });
    const probe = 'cat /etc/app/app.conf; if touch /etc/app/new 2>/dev/null; then echo writable; else echo read-only; fi';
    const ro = run([`--volume=conf,kind=host,source=${src}`, aci, '--exec=/bin/sh', '--', '-c', probe]);
    expect(ro.status, ro.stderr).toBe(0);
    expect(ro.stdout).toBe('x=1\nread-only\n');
    const rw = run([`--volume=conf,kind=host,source=${src},readOnly=false`, aci, '--exec=/bin/sh', '--', '-c', probe]);
    expect(rw.status, rw.stderr).toBe(0);
    expect(rw.stdout).toBe('x=1\nwritable\n');
    expect(readdirSync(src).sort()).toEqual(['app.conf', 'new']);
    expectCollected();
  });

  it('a target the image makes a symlink out of the rootfs lands inside the rootfs', async () => {
    // On the host these links would lead to the decoys in the test's temp dir: no mount may land there.
    const decoy = hostDir('decoy', { 'untouched.txt': 'decoy\n' });
    const decoy2 = hostDir('decoy2', { 'untouched.txt': 'decoy\n' });
    const aci = await buildImage(env.tmp, { name: 'hostile', links: { data: `/../../../..${decoy}`, 'opt/chain': '/opt/next', 'opt/next': `/..${decoy2}/../${decoy2.split('/').pop() ?? ''}` } });
    const src = hostDir('vol-src', { 'vol.txt': 'volume\n' });
    const r = run([
      `--volume=v,kind=host,source=${src}`,
      '--volume=e,kind=empty',
      '--mount=volume=v,target=/data',
      '--mount=volume=e,target=/opt/chain/sub',
      aci,
      '--exec=/bin/sh',
      '--',
      '-c',
      `cat /data/vol.txt; cat ${decoy}/vol.txt; grep -c " ${decoy2}/sub " /proc/self/mountinfo`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('volume\nvolume\n1\n');
    // Nothing mounted on, or created in, the host's decoys; the mounts are under the pod's rootfs.
    expect(readdirSync(decoy)).toEqual(['untouched.txt']);
    expect(readdirSync(decoy2)).toEqual(['untouched.txt']);
    expect(mountPoints().filter((m) => m.startsWith(decoy) || m.startsWith(decoy2))).toEqual([]);
    expectCollected();
    expect(readdirSync(decoy)).toEqual(['untouched.txt']);
    expect(readdirSync(src)).toEqual(['vol.txt']);
  });

  it('a host volume is recursive unless recursive=false: a mount below the source comes along', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const src = hostDir('rec-src', { 'top.txt': 'top\n' });
    mkdirSync(join(src, 'sub'));
    const sub = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rkt-volumes-test', join(src, 'sub')], { encoding: 'utf8' });
    expect(sub.status, sub.stderr).toBe(0);
    writeFileSync(join(src, 'sub', 'below.txt'), 'below\n');
    const probe = ['--exec=/bin/sh', '--', '-c', 'cat /data/top.txt; cat /data/sub/below.txt 2>/dev/null || echo not-there'];
    const rec = run([`--volume=data,kind=host,source=${src}`, '--mount=volume=data,target=/data', aci, ...probe]);
    expect(rec.status, rec.stderr).toBe(0);
    expect(rec.stdout).toBe('top\nbelow\n');
    const flat = run([`--volume=data,kind=host,source=${src},recursive=false`, '--mount=volume=data,target=/data', aci, ...probe]);
    expect(flat.status, flat.stderr).toBe(0);
    expect(flat.stdout).toBe('top\nnot-there\n');
    const r = gcAll();
    expect(r.status, r.stderr).toBe(0);
    // Only the test's own tmpfs is left, and it is still the host's: gc took nothing of it.
    expect(mountPoints()).toEqual([join(src, 'sub')]);
    expect(readFileSync(join(src, 'sub', 'below.txt'), 'utf8')).toBe('below\n');
  });

  it('rkt prepare then run-prepared: the volumes are checked at prepare and mounted at run', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const src = hostDir('prep-src', { 'p.txt': 'prepared\n' });
    const prep = env.run(['prepare', '--quiet', `--stage1-path=${stage1}`, `--volume=data,kind=host,source=${src},readOnly=true`, '--mount=volume=data,target=/data', aci, '--exec=/bin/cat', '--', '/data/p.txt']);
    expect(prep.status, prep.stderr).toBe(0);
    const uuid = prep.stdout.trim();
    const r = env.run(['run-prepared', uuid]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('prepared\n');
    expectCollected();
  });

  it('--pod-manifest: its volumes and mounts are used', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const fetched = env.run(['fetch', aci]);
    expect(fetched.status, fetched.stderr).toBe(0);
    const src = hostDir('pm-src', { 'in.txt': 'manifest volume\n' });
    const manifest = join(env.tmp, 'pod.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        acVersion: '0.8.11',
        acKind: 'PodManifest',
        apps: [
          {
            name: 'plain',
            image: { name: 'example.com/plain' },
            app: { exec: ['/bin/sh', '-c', 'cat /in/in.txt'], user: '0', group: '0' },
            mounts: [{ volume: 'src', path: '/in' }],
          },
        ],
        volumes: [{ name: 'src', kind: 'host', source: src, readOnly: true }],
      }),
    );
    const r = run([`--pod-manifest=${manifest}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('manifest volume\n');
    expectCollected();
  });

  it('a target the volume cannot be mounted on fails the run in one line, before the app starts; gc cleans up', async () => {
    const aci = await buildImage(env.tmp, { name: 'withfile', files: { data: 'a regular file\n' } });
    const src = hostDir('dir-src', { 'x.txt': 'x\n' });
    const r = run([`--volume=v,kind=host,source=${src}`, '--mount=volume=v,target=/data/sub', aci, '--exec=/bin/sh', '--', '-c', 'echo APP-RAN']);
    expect(r.status).toBe(254);
    expect(r.stdout).not.toContain('APP-RAN');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/app "withfile": volume "v" at \/data\/sub: .*not a directory/);
    expectCollected();
    expect(readdirSync(src)).toEqual(['x.txt']);
  });
});

// The same scenario title, without a seeded store: this test sees that not even the data directory is made.
describe.each(Object.entries(STAGE1S))('volumes (stage1-%s)', (_flavor, stage1) => {
  const run = (args: readonly string[]): RktResult => env.run(['run', `--stage1-path=${stage1}`, ...args]);

  it('a host source that does not exist: one line, exit 254, no pod left', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const missing = join(env.tmp, 'no-such-dir');
    const r = run([`--volume=data,kind=host,source=${missing}`, '--mount=volume=data,target=/data', aci, '--exec=/bin/true']);
    expect(r.status).toBe(254);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toMatch(/no such file or directory/);
    // Checked before the store is opened: not even the data directory was made.
    expect(existsSync(env.dataDir)).toBe(false);
    expect(mountPoints()).toEqual([]);
    expect(existsSync(missing)).toBe(false);
  });
});

describe('volumes (stage1-systemd, several apps)', () => {
  beforeEach(() => seed(STAGE1S.systemd));
  it('an empty volume shared by two apps: the database writes, the backup reads', async () => {
    const db = await buildImage(env.tmp, { name: 'database', mountPoints: [{ name: 'dbdata', path: '/var/lib/db' }] });
    const backup = await buildImage(env.tmp, { name: 'backup', mountPoints: [{ name: 'dbdata', path: '/backup/in', readOnly: true }] });
    const r = env.run([
      'run',
      `--stage1-path=${STAGE1S.systemd}`,
      '--volume=dbdata,kind=empty,mode=0777',
      db,
      '--exec=/bin/sh',
      '--',
      '-c',
      // One write(2) of a short line: the reader sees the file empty or whole.
      'echo row-1 > /var/lib/db/table; echo db-done',
      '---',
      backup,
      '--exec=/bin/sh',
      '--',
      '-c',
      'i=0; while [ ! -s /backup/in/table ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; cat /backup/in/table; if touch /backup/in/x 2>/dev/null; then echo backup-can-write; fi',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').sort()).toEqual(['', 'db-done', 'row-1']);
    expectCollected();
  });
});

describe('volumes over /etc (stage1-systemd)', () => {
  beforeEach(() => seed(STAGE1S.systemd));
  // The stage1 writes /etc/hostname (and /etc/hosts when the image has none) into each app's root before the
  // pod boots: never into a volume, which is the host's (source=/etc would have replaced the host's hostname).
  const run = (global: readonly string[], args: readonly string[]): RktResult => env.run([...global, 'run', `--stage1-path=${STAGE1S.systemd}`, ...args]);

  it('a host directory mounted at /etc keeps its hostname byte for byte and gets no hosts file; the pod runs', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const etc = hostDir('etc-src', { hostname: 'the-host\n' });
    const r = run(['--debug'], [`--volume=e,kind=host,source=${etc}`, '--mount=volume=e,target=/etc', aci, '--exec=/bin/sh', '--', '-c', 'cat /etc/hostname']);
    expect(r.status, r.stderr).toBe(0);
    // --debug: systemd's own messages come with the app's output.
    expect(r.stdout).toMatch(/^the-host$/m);
    expect(r.stderr).toContain('stage1-systemd run: app plain: /etc/hostname not written: a volume is mounted at /etc\n');
    expect(readFileSync(join(etc, 'hostname'), 'utf8')).toBe('the-host\n');
    expect(readdirSync(etc)).toEqual(['hostname']);
    expectCollected();
  });

  it('a read-only /etc volume and a file volume at /etc/hostname: left as they are, the pod runs', async () => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const etc = hostDir('etc-ro', { hostname: 'read-only\n' });
    const ro = run([], [`--volume=e,kind=host,source=${etc},readOnly=true`, '--mount=volume=e,target=/etc', aci, '--exec=/bin/sh', '--', '-c', 'cat /etc/hostname']);
    expect(ro.stderr).toBe('');
    expect(ro.status).toBe(0);
    expect(ro.stdout).toBe('read-only\n');
    expect(readdirSync(etc)).toEqual(['hostname']);
    const file = join(hostDir('hostname-src', { hostname: 'single-file\n' }), 'hostname');
    const one = run([], [`--volume=h,kind=host,source=${file}`, '--mount=volume=h,target=/etc/hostname', aci, '--exec=/bin/sh', '--', '-c', 'cat /etc/hostname; cat /etc/hosts | grep -c localhost']);
    expect(one.stderr).toBe('');
    expect(one.status).toBe(0);
    // /etc is the image's own: its hosts file is still written.
    expect(one.stdout).toBe('single-file\n2\n');
    expect(readFileSync(file, 'utf8')).toBe('single-file\n');
    expectCollected();
  });
});

describe('volume flag errors (nothing is created)', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a duplicate volume name', ['--volume=a,kind=empty', '--volume=a,kind=empty'], /--volume: volume name "a" is given twice/],
    ['an unknown key', ['--volume=a,kind=host,sauce=/tmp'], /--volume "a,kind=host,sauce=\/tmp": unknown key "sauce"/],
    ['a bad kind', ['--volume=a,kind=tmpfs'], /kind must be "host" or "empty"/],
    ['a host volume without source', ['--volume=a,kind=host'], /source is required for kind=host/],
    ['a bad readOnly', ['--volume=a,kind=empty,readOnly=yes'], /readOnly must be true or false/],
    ['a mount of an unknown volume', ['--volume=a,kind=empty', '--mount=volume=b,target=/b'], /--mount volume=b,target=\/b: no --volume named "b" \(volumes: a\)/],
    ['a mount with a bad key', ['--mount=volume=b,path=/b'], /--mount "volume=b,path=\/b": unknown key "path"/],
    ['a relative mount target', ['--volume=a,kind=empty', '--mount=volume=a,target=rel'], /target "rel" must be an absolute path/],
  ];
  it.each(cases)('%s', async (_what, flags, message) => {
    const aci = await buildImage(env.tmp, { name: 'plain' });
    const r = env.run(['run', ...flags, aci, '--exec=/bin/true']);
    expect(r.status).toBe(254);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(podDirs()).toEqual([]);
  });
});
