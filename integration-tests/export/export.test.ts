// `rkt export` of real pods: the built bin/rkt, a busybox image, fly pods (one app each) and a systemd pod of
// two apps. The ACI must hold the app's root as it left it (written files there, deleted ones and overlay
// whiteouts not, the pod's volumes not), with the image's manifest, and run again as an image of its own.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildAci } from '@rkt/appc-spec';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, podProcesses, RktEnv, STAGE1S } from '../pods/harness.js';

let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  await env.cleanup();
});

const fly = STAGE1S.find((s) => s.name === 'fly')!;
const systemd = STAGE1S.find((s) => s.name === 'systemd')!;

/** The app writes /out.txt, deletes /etc/group (a file of the image) and a file in its volume, and exits. */
const WRITER = ['--exec', '/bin/sh', '--', '-c', 'echo "exported by $AC_APP_NAME" > /out.txt && /bin/busybox rm /etc/group && echo in-volume > /data/written'];

function volumeFlags(): string[] {
  const host = join(env.tmp, 'host-volume');
  mkdirSync(host, { recursive: true });
  return ['--volume', `data,kind=host,source=${host}`, '--mount', 'volume=data,target=/data'];
}

function onlyPod(): string {
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
  expect(pods).toHaveLength(1);
  return pods[0]!.name;
}

interface TarEntry {
  type: string;
  name: string;
}

/** The ACI's members as GNU tar lists them: type letter (`-`, `d`, `l`, `c`...) and name. */
function members(file: string): TarEntry[] {
  const r = spawnSync('tar', ['-tvzf', file], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => ({ type: l[0]!, name: (l.split(/\s+/)[5] ?? '').replace(/\/$/, '') }));
}

function member(file: string, name: string): string {
  const r = spawnSync('tar', ['-xzOf', file, name], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** What an exported busybox app that ran WRITER must hold, and must not. */
function expectExported(file: string, app: string): void {
  const list = members(file);
  const names = list.map((e) => e.name);
  expect(names[0]).toBe('manifest');
  expect(names).toContain('rootfs/out.txt');
  expect(member(file, 'rootfs/out.txt')).toBe(`exported by ${app}\n`);
  expect(names).toContain('rootfs/etc/passwd');
  expect(names).toContain('rootfs/bin/busybox');
  expect(names).not.toContain('rootfs/etc/group');
  // No overlay whiteout (a 0:0 character device) nor aufs-style .wh. entry, and not the volume's file.
  expect(list.filter((e) => e.type === 'c' || e.type === 'b' || e.name.includes('.wh.'))).toEqual([]);
  expect(names).toContain('rootfs/data');
  expect(names).not.toContain('rootfs/data/written');
  // Nor overlayfs's own attributes (opaque dirs, origins), which the merged view hides.
  expect(gunzipSync(readFileSync(file)).includes('trusted.overlay.')).toBe(false);
  const manifest = JSON.parse(member(file, 'manifest')) as { acKind: string; name: string; labels: unknown; app: { exec: string[] }; dependencies?: unknown };
  expect(manifest).toMatchObject({
    acKind: 'ImageManifest',
    name: 'example.com/busybox',
    labels: [
      { name: 'version', value: '1.0' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
    app: { exec: ['/bin/sh', '-c', 'echo image-default'] },
  });
}

describe('rkt export (fly)', () => {
  beforeEach(() => {
    env = new RktEnv(fly);
    aci = fileAci.path;
  });

  it("exports an overlay pod's app as it left it, by UUID prefix, and the ACI runs as an image of its own", () => {
    const run = env.run(['run', ...volumeFlags(), aci, ...WRITER]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const uuid = onlyPod();
    const mountsBefore = env.mounts();

    expect(env.run(['export', uuid.slice(0, 8), 'out.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expectExported(join(env.tmp, 'out.aci'), 'busybox');
    // The export mounted nothing on the host and left no helper behind; the pod is as it was.
    expect(env.mounts()).toEqual(mountsBefore);
    expect(podProcesses(uuid)).toEqual([]);
    expect(env.status(uuid).state).toBe('exited');

    const fetched = env.run(['fetch', '--full', 'out.aci']);
    expect(fetched.status, fetched.stderr).toBe(0);
    const id = fetched.stdout.trim();
    expect(id).toMatch(/^sha512-[0-9a-f]{128}$/);
    const again = env.run(['run', id, '--exec', '/bin/sh', '--', '-c', 'cat /out.txt; [ -e /etc/group ] || echo no /etc/group']);
    expect(again).toEqual({ status: 0, stdout: 'exported by busybox\nno /etc/group\n', stderr: '' });
    // And the file straight away, as rkt run takes an ACI.
    expect(env.run(['run', 'out.aci', '--exec', '/bin/cat', '--', '/out.txt']).stdout).toBe('exported by busybox\n');
  }, 120_000);

  it('exports a pod gc marked, and one whose mounts are gone (as after a reboot): the upper dir merged over the image', async () => {
    expect(env.run(['run', ...volumeFlags(), aci, ...WRITER]).status).toBe(0);
    const uuid = onlyPod();
    expect(env.run(['gc', '--mark-only']).status).toBe(0);
    expect(env.status(uuid).state).toBe('exited garbage');
    expect(env.run(['export', uuid, 'marked.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expectExported(join(env.tmp, 'marked.aci'), 'busybox');

    await unmountTree(join(env.dataDir, 'pods'));
    expect(env.mounts()).toEqual([]);
    expect(env.run(['export', uuid, 'unmounted.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expectExported(join(env.tmp, 'unmounted.aci'), 'busybox');
    expect(members(join(env.tmp, 'unmounted.aci'))).toEqual(members(join(env.tmp, 'marked.aci')));
    expect(env.mounts()).toEqual([]);
  }, 120_000);

  it('exports a --no-overlay pod (its copied root), without its volume', () => {
    expect(env.run(['run', '--no-overlay', ...volumeFlags(), aci, ...WRITER]).status).toBe(0);
    const uuid = onlyPod();
    expect(readFileSync(join(env.tmp, 'host-volume', 'written'), 'utf8')).toBe('in-volume\n');
    expect(env.run(['export', uuid, 'copy.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expectExported(join(env.tmp, 'copy.aci'), 'busybox');
  }, 120_000);

  it('refuses a pod that is not exited, in one line naming it and its state, and writes nothing', async () => {
    const { done } = env.start(['run', aci, '--exec', '/bin/sleep', '--', '1000']);
    const { uuid } = await env.waitRunning();
    expect(env.run(['export', uuid, 'out.aci'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `export: pod ${uuid} is not exited (it is running): only an exited pod can be exported\n`,
    });
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    await done;

    const prepared = env.run(['prepare', aci]).stdout.trim();
    expect(env.run(['export', prepared, 'out.aci'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `export: pod ${prepared} is not exited (it is prepared): only an exited pod can be exported\n`,
    });
    expect(env.run(['export', 'ffffffff', 'out.aci'])).toEqual({ status: 254, stdout: '', stderr: 'export: no pod matches "ffffffff"\n' });
    expect(existsSync(join(env.tmp, 'out.aci'))).toBe(false);
  }, 120_000);

  it('refuses an existing output without --overwrite, and replaces it with', () => {
    expect(env.run(['run', ...volumeFlags(), aci, ...WRITER]).status).toBe(0);
    const uuid = onlyPod();
    writeFileSync(join(env.tmp, 'out.aci'), 'old');
    expect(env.run(['export', uuid, 'out.aci'])).toEqual({ status: 254, stdout: '', stderr: 'export: out.aci: output ACI file exists (try --overwrite)\n' });
    expect(readFileSync(join(env.tmp, 'out.aci'), 'utf8')).toBe('old');
    expect(env.run(['export', uuid, 'out.tar'])).toEqual({ status: 254, stdout: '', stderr: "export: out.tar: the output ACI file's extension must be .aci\n" });
    expect(env.run(['export', uuid, 'no/such/dir/out.aci'])).toEqual({ status: 254, stdout: '', stderr: 'export: no/such/dir/out.aci: directory no/such/dir does not exist\n' });
    expect(env.run(['export', '--overwrite', uuid, 'out.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    expectExported(join(env.tmp, 'out.aci'), 'busybox');
  }, 120_000);

  it("flattens a layered image: its dependency's files are in the ACI, and its manifest has no dependencies nor pathWhitelist", async () => {
    expect(env.run(['fetch', aci]).status).toBe(0);
    const layered = join(env.tmp, 'layered.aci');
    const manifest = {
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/layered',
      labels: [{ name: 'version', value: '2.0' }],
      app: { exec: ['/bin/sh', '-c', 'echo layered-default'], user: '0', group: '0' },
      dependencies: [{ imageName: 'example.com/busybox' }],
      pathWhitelist: ['/bin/busybox', '/bin/sh', '/bin/cat', '/etc/passwd', '/etc/group', '/layer-file'],
    };
    await buildAci(JSON.stringify(manifest), [{ type: 'file', path: 'layer-file', data: 'from the layer\n' }], layered, { compression: 'gzip' });
    const run = env.run(['run', layered, '--exec', '/bin/sh', '--', '-c', 'echo written > /out.txt && /bin/busybox rm /etc/group']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const uuid = JSON.parse(env.run(['list', '--format=json']).stdout)[0].name as string;
    expect(env.run(['export', uuid, 'flat.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    const flat = join(env.tmp, 'flat.aci');
    expect(JSON.parse(member(flat, 'manifest'))).toEqual({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: 'example.com/layered',
      labels: [{ name: 'version', value: '2.0' }],
      app: { exec: ['/bin/sh', '-c', 'echo layered-default'], user: '0', group: '0' },
    });
    const names = members(flat).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['rootfs/bin/busybox', 'rootfs/layer-file', 'rootfs/out.txt']));
    expect(names).not.toContain('rootfs/etc/group');
    // Run on its own: nothing of the dependency rendered under it again (/etc/group stays deleted), nothing
    // the app wrote removed by a whitelist.
    const again = env.run(['run', 'flat.aci', '--exec', '/bin/sh', '--', '-c', 'cat /out.txt /layer-file; [ -e /etc/group ] || echo no /etc/group']);
    expect(again).toEqual({ status: 0, stdout: 'written\nfrom the layer\nno /etc/group\n', stderr: '' });
  }, 120_000);

  it('prints its help', () => {
    const r = env.run(['export', '--help']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('rkt export [--app=APPNAME] UUID OUTPUT_ACI_FILE [flags]');
    expect(r.stdout).toMatch(/^ {6}--app=""\t+name of the app to export within the specified pod$/m);
    expect(r.stdout).toMatch(/^ {6}--overwrite\[=false\]\t+overwrite output ACI$/m);
    expect(env.run(['export', 'only-one'])).toMatchObject({ status: 254, stdout: '' });
  });
});

describe('rkt export of a pod of several apps (systemd)', () => {
  beforeEach(() => {
    env = new RktEnv(systemd);
    aci = fileAci.path;
  });

  it('needs --app, refuses an app the pod lacks naming its apps, and exports the app --app names', () => {
    const writer = (name: string) => [aci, `--name=${name}`, '--exec', '/bin/sh', '--', '-c', `echo "exported by $AC_APP_NAME" > /out.txt && /bin/busybox rm /etc/group`];
    const run = env.run(['run', ...writer('first'), '---', ...writer('second')]);
    expect(run.status, run.stderr).toBe(0);
    const uuid = onlyPod();
    expect(env.run(['export', uuid, 'out.aci'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `export: pod ${uuid} contains multiple apps (first, second): unable to determine app name: specify app using "rkt export --app= ..."\n`,
    });
    expect(env.run(['export', '--app=third', uuid, 'out.aci'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `export: app "third" is not in pod ${uuid} (apps: first, second)\n`,
    });
    expect(existsSync(join(env.tmp, 'out.aci'))).toBe(false);
    expect(env.run(['export', '--app=second', uuid, 'out.aci'])).toEqual({ status: 0, stdout: '', stderr: '' });
    const file = join(env.tmp, 'out.aci');
    expect(member(file, 'rootfs/out.txt')).toBe('exported by second\n');
    expect(members(file).map((e) => e.name)).not.toContain('rootfs/etc/group');
    expect(members(file).filter((e) => e.type === 'c' || e.name.includes('.wh.'))).toEqual([]);
  }, 180_000);
});
