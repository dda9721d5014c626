// rkt's experimental app commands (RKT_EXPERIMENT_APP=true) on real systemd pods, as a user sees them: a sandbox
// runs with no apps until stopped; apps are added, started, stopped and removed while it runs, each step seen
// in `rkt app list`/`status`, `rkt status` and on disk; the pod's stop and gc leave nothing. Each refusal is one
// line, exit 254, the pod as it was.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join, relative } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../packages/controller/test/nats-server.js';
import { rktBin, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';
import { buildIsolatorAci } from '../isolators/harness.js';
import { expectNothingLeft, systemdPodTests, withoutAppModules } from './harness.js';

const pods = systemdPodTests();
let env: RktEnv;
let aci: string;
beforeEach(() => ({ env, aci } = pods));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** rkt with the app experiment on (or, with `experiment` false, without RKT_EXPERIMENT_APP at all). */
function rkt(args: readonly string[], experiment = true): RktResult {
  const { RKT_EXPERIMENT_APP: _, ...rest } = process.env;
  const r = spawnSync(rktBin, env.args(args), { cwd: env.tmp, encoding: 'utf8', timeout: 60_000, env: experiment ? { ...rest, RKT_EXPERIMENT_APP: 'true' } : rest });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `rkt` with the app experiment on, in the background. */
function rktAsync(args: readonly string[]): Promise<RktResult> {
  const child = spawn(rktBin, env.args(args), { cwd: env.tmp, env: { ...process.env, RKT_EXPERIMENT_APP: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
  env.children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (status) => (env.children.delete(child), resolve({ status, stdout, stderr }))));
}

/** A refusal: exit 254 and one line on stderr that says `says`. */
function expectRefused(r: RktResult, says: RegExp): void {
  expect(r.status, r.stderr).toBe(254);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(says);
}

/** Starts `rkt app sandbox` in the background; resolves with its UUID once it runs with its pid known. */
async function startSandbox(globals: readonly string[] = [], flags: readonly string[] = []): Promise<{ uuid: string; done: Promise<RktResult> }> {
  const uuidFile = join(env.tmp, 'sandbox-uuid');
  // RktEnv.start gives rkt this process's environment.
  process.env.RKT_EXPERIMENT_APP = 'true';
  let started: ReturnType<RktEnv['start']>;
  try {
    started = env.start([...globals, 'app', 'sandbox', `--stage1-path=${env.stage1!.aci}`, `--uuid-file-save=${uuidFile}`, ...flags]);
  } finally {
    delete process.env.RKT_EXPERIMENT_APP;
  }
  const { uuid } = await env.waitRunning();
  expect(readFileSync(uuidFile, 'utf8')).toBe(uuid);
  return { uuid, done: started.done };
}

function appStatus(uuid: string, app: string): { name: string; state: string; exit_code?: number; image_id: string; started_at?: number; finished_at?: number } {
  const r = rkt(['app', 'status', uuid, `--app=${app}`, '--format=json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ReturnType<typeof appStatus>;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) if (check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const manifestOf = (uuid: string): string => readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'pod'), 'utf8');

/** The stage1's refusals of what a running mutable pod cannot give an added app, as `rkt app add` prints them. */
const REFUSED = {
  memory: (app: string) => `app add: stage1-systemd app/add: app ${app}: its resource isolators (--memory, --cpu, --cpu-shares) need the memory cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)`,
  capability: (app: string, cap: string) => `app add: stage1-systemd app/add: app ${app}: ${cap} cannot be given in a running mutable pod: its systemd-nspawn started with its default capabilities only`,
};

/** A refusal that is exactly `line`: exit 254, nothing else on stderr or stdout. */
function expectRefusedWith(r: RktResult, line: string): void {
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 254, stdout: '', stderr: `${line}\n` });
}

/**
 * What an app add writes, with each file's mtime: the pod manifest and record, the apps' directories (appsinfo's
 * listing and mtime, which a directory made and removed changes), the mounts under the pod, the store's reference
 * of the pod. Equal before and after a refusal: nothing was written, not even undone.
 */
function addWrites(uuid: string): { manifest: unknown; record: unknown; appsinfo: { mtimeMs: number; names: string[] }; mounts: string[]; storeRef: unknown } {
  const pod = join(env.dataDir, 'pods', 'run', uuid);
  const file = (p: string) => (existsSync(p) ? { mtimeMs: statSync(p).mtimeMs, text: readFileSync(p, 'utf8') } : 'absent');
  return {
    manifest: file(join(pod, 'pod')),
    record: file(join(pod, 'pod-info.json')),
    appsinfo: { mtimeMs: statSync(join(pod, 'appsinfo')).mtimeMs, names: readdirSync(join(pod, 'appsinfo')) },
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(pod)).map((l) => l.split(' ').slice(3).join(' ')),
    storeRef: file(join(env.dataDir, 'cas', 'refs', `${uuid}.json`)),
  };
}

describe('rkt app (RKT_EXPERIMENT_APP=true), systemd stage1', () => {
  it('is an unknown command without RKT_EXPERIMENT_APP, as in rkt', () => {
    expectRefused(rkt(['app', 'sandbox'], false), /unknown command "app" for "rkt"/);
    expect(rkt(['help'], false).stdout).not.toMatch(/^\tapp /m);
    expect(rkt(['help']).stdout).toMatch(/^\tapp sandbox\t+Create an empty pod application sandbox$/m);
  });

  it('runs a sandbox whose apps are added, started, stopped and removed while it runs', async () => {
    const { uuid, done } = await startSandbox([], ['--user-annotation=team=infra', '--user-label=tier=web', '--hostname=sandbox']);
    // Running, mutable, without apps, with the pod's own annotations and labels.
    expect(env.status(uuid)).toMatchObject({ state: 'running', apps: [] });
    const manifest = JSON.parse(manifestOf(uuid));
    expect(manifest.annotations).toEqual([{ name: 'coreos.com/rkt/stage1/mutable', value: 'true' }]);
    expect(manifest.userAnnotations).toEqual({ team: 'infra' });
    expect(manifest.userLabels).toEqual({ tier: 'web' });
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\n');
    await sleep(1000);
    expect(env.status(uuid).state).toBe('running');

    // Added: created, its root mounted, not started.
    // A volume of its own (rkt's --mnt-volume): the host directory it writes into.
    const shared = join(env.tmp, 'shared');
    mkdirSync(shared);
    const add = rkt([
      'app', 'add', uuid, aci, '--name=writer', '--exec=/bin/sh', '--environment=GREETING=hello', '--supplementary-gids=50',
      `--mnt-volume=name=data,kind=host,source=${shared},target=/data`, '--', '-c', 'echo "$GREETING $(id -G)" > /data/out; exec sleep 100',
    ]);
    expect(add.status, add.stderr).toBe(0);
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\nwriter\tcreated\n');
    const out = join(shared, 'out');
    expect(existsSync(out)).toBe(false);

    // Started: it runs in the pod, in its own root.
    const start = rkt(['app', 'start', uuid, '--app=writer']);
    expect(start.status, start.stderr).toBe(0);
    await waitFor('the app to write its file', () => existsSync(out) && readFileSync(out, 'utf8') === 'hello 0 50\n');
    expect(appStatus(uuid, 'writer')).toMatchObject({ name: 'writer', state: 'running' });
    const entered = env.run(['enter', '--app=writer', uuid, '/bin/cat', '/data/out', '/etc/hostname']);
    // The pod's hostname reaches an app added later too.
    expect(entered.stdout).toBe('hello 0 50\nsandbox\n');

    // Stopped: exited by the stop's SIGTERM, as rkt status says it of `rkt run`'s apps.
    const stop = rkt(['app', 'stop', uuid, '--app=writer']);
    expect(stop.status, stop.stderr).toBe(0);
    const stopped = appStatus(uuid, 'writer');
    expect(stopped).toMatchObject({ state: 'exited', exit_code: 143 });
    expect(stopped.finished_at).toBeGreaterThanOrEqual(stopped.started_at!);
    expect(rkt(['app', 'status', uuid, '--app=writer']).stdout).toMatch(/^name=writer\nstate=exited\nimage_id=sha512-[0-9a-f]{128}\ncreated_at=.*\nstarted_at=.*\nfinished_at=.*\nexit_code=143\n$/);
    expect(env.status(uuid)).toMatchObject({ state: 'running', apps: [{ name: 'writer', exit_code: 143 }] });

    // An app that ends by itself: its status is recorded, and the pod runs on.
    expect(rkt(['app', 'add', uuid, aci, '--name=quitter', '--exec=/bin/sh', '--', '-c', 'exit 3']).status).toBe(0);
    expect(rkt(['app', 'start', uuid, '--app=quitter']).status).toBe(0);
    await waitFor('the app to exit', () => appStatus(uuid, 'quitter').state === 'exited');
    expect(appStatus(uuid, 'quitter').exit_code).toBe(3);
    expect(env.status(uuid).state).toBe('running');

    // Removed: gone from the manifest, the listing and the mount table.
    for (const app of ['writer', 'quitter']) {
      const rm = rkt(['app', 'rm', uuid, `--app=${app}`]);
      expect(rm.status, rm.stderr).toBe(0);
    }
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\n');
    expect(JSON.parse(manifestOf(uuid)).apps).toEqual([]);
    expect(env.mounts().filter((m) => m.includes('/appsinfo/writer') || m.includes('/appsinfo/quitter'))).toEqual([]);
    expect(existsSync(join(env.dataDir, 'pods', 'run', uuid, 'appsinfo', 'writer'))).toBe(false);

    // The pod ends with `rkt stop`, and gc leaves nothing.
    expect(env.run(['stop', uuid]).status).toBe(0);
    const result = await done;
    expect(result.status, result.stderr).toBe(0);
    expect(env.status(uuid).state).toBe('exited');
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('refuses unknown apps, a second app of one name and a bad image in one line, the pod unchanged', async () => {
    const { uuid, done } = await startSandbox();
    expect(rkt(['app', 'add', uuid, aci, '--name=one', '--exec=/bin/sleep', '--', '100']).status).toBe(0);
    const before = manifestOf(uuid);
    expectRefused(rkt(['app', 'start', uuid, '--app=nope']), /has no app "nope" \(apps: one\)/);
    expectRefused(rkt(['app', 'stop', uuid, '--app=nope']), /has no app "nope"/);
    expectRefused(rkt(['app', 'rm', uuid, '--app=nope']), /has no app "nope"/);
    expectRefused(rkt(['app', 'status', uuid, '--app=nope']), /cannot find app "nope"/);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=one']), /already has an app named "one"/);
    expectRefused(rkt(['app', 'add', uuid, join(env.tmp, 'missing.aci')]), /missing\.aci/);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=two', `--mnt-volume=name=gone,kind=host,source=${join(env.tmp, 'gone')},target=/gone`]), /gone/);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=two', '--mnt-volume=name=v,kind=empty']), /--mnt-volume "name=v,kind=empty": target=PATH is required/);
    // An exec the image lacks: refused by the stage1, and undone.
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=two', '--exec=/bin/nothing-here']), /\/bin\/nothing-here/);
    expect(manifestOf(uuid)).toBe(before);
    expect(existsSync(join(env.dataDir, 'pods', 'run', uuid, 'appsinfo', 'two'))).toBe(false);
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\none\tcreated\n');
    // Two adds at once take turns on the manifest lock: neither app is lost.
    const both = await Promise.all(['a1', 'a2'].map((name) => rktAsync(['app', 'add', uuid, aci, `--name=${name}`, '--exec=/bin/true'])));
    for (const r of both) expect(r.status, r.stderr).toBe(0);
    expect(rkt(['app', 'list', uuid]).stdout.split('\n').sort()).toEqual(['', 'NAME\tSTATE', 'a1\tcreated', 'a2\tcreated', 'one\tcreated']);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('takes the image from the store as rkt did: a name it lacks is refused in one line, nothing fetched, the pod unchanged', async () => {
    const { uuid, done } = await startSandbox();
    const before = manifestOf(uuid);
    const ids = () => env.run(['image', 'list', '--no-legend', '--full', '--fields=id']).stdout;
    const images = ids();
    expectRefused(rkt(['app', 'add', uuid, 'example.com/not-fetched', '--name=web']), /example\.com\/not-fetched/);
    expect(ids()).toBe(images);
    expect(manifestOf(uuid)).toBe(before);
    expect(existsSync(join(env.dataDir, 'pods', 'run', uuid, 'appsinfo', 'web'))).toBe(false);
    // Once fetched, its name is enough.
    expect(env.run(['fetch', aci]).status).toBe(0);
    const add = rkt(['app', 'add', uuid, 'example.com/busybox', '--name=web', '--exec=/bin/true']);
    expect(add.status, add.stderr).toBe(0);
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\nweb\tcreated\n');
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('refuses in one line what an added app would silently go without: resource limits, capabilities beyond the pod\'s, --inherit-env', async () => {
    const { uuid, done } = await startSandbox();
    const before = manifestOf(uuid);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=big', '--exec=/bin/true', '--memory=64M']), /^app add: --memory=64M: needs the memory cgroup controller, which a mutable pod does not have/);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=slow', '--exec=/bin/true', '--cpu=500m']), /^app add: --cpu=500m: needs the cpu cgroup controller/);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=admin', '--exec=/bin/true', '--caps-retain=CAP_NET_ADMIN']), /app admin: CAP_NET_ADMIN cannot be given in a running mutable pod/);
    // rkt's app add had no --inherit-env (nor --set-env, --mount, --signature): unknown flags, as there.
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=env', '--inherit-env']), /unknown flag: --inherit-env/);
    expect(manifestOf(uuid)).toBe(before);
    expect(readdirSync(join(env.dataDir, 'pods', 'run', uuid, 'appsinfo'))).toEqual([]);
    // What the pod's nspawn has is given: a capability of its default set, a positive oom-score-adj.
    const add = rkt(['app', 'add', uuid, aci, '--name=ok', '--caps-retain=CAP_NET_BIND_SERVICE', '--oom-score-adj=100', '--exec=/bin/sleep', '--', '100']);
    expect(add.status, add.stderr).toBe(0);
    expect(rkt(['app', 'start', uuid, '--app=ok']).status).toBe(0);
    await waitFor('the app to run', () => appStatus(uuid, 'ok').state === 'running');
    const entered = env.run(['enter', '--app=ok', uuid, '/bin/sh', '-c', 'cat /proc/$(pidof sleep)/oom_score_adj; grep CapBnd /proc/$(pidof sleep)/status']);
    expect(entered.stdout).toBe('100\nCapBnd:\t0000000000000400\n');
    // Why the limits are refused: the pod's systemd has a cgroup2 hierarchy without controllers (a limit there would
    // be a no-op), and no v1 memory or cpu hierarchy.
    const podRoot = `/proc/${env.status(uuid).pid!}/root`;
    expect(readFileSync(`${podRoot}/sys/fs/cgroup/cgroup.controllers`, 'utf8').trim()).toBe('');
    expect(existsSync(`${podRoot}/sys/fs/cgroup/memory`)).toBe(false);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it("refuses, before anything is written, what the running pod cannot give an app: an image's resource isolator, a capability beyond nspawn's defaults (the stage1's check)", async () => {
    const big = await buildIsolatorAci(env.tmp, 'big', [{ name: 'resource/memory', value: { limit: '64M' } }]);
    const admin = await buildIsolatorAci(env.tmp, 'admin', [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN'] } }]);
    for (const image of [aci, big, admin]) expect(env.run(['fetch', image]).status).toBe(0);
    const { uuid, done } = await startSandbox();
    const before = addWrites(uuid);
    expectRefusedWith(rkt(['app', 'add', uuid, 'example.com/big']), REFUSED.memory('big'));
    expect(addWrites(uuid)).toEqual(before);
    expectRefusedWith(rkt(['app', 'add', uuid, 'example.com/busybox', '--name=net', '--exec=/bin/true', '--caps-retain=CAP_NET_ADMIN']), REFUSED.capability('net', 'CAP_NET_ADMIN'));
    expect(addWrites(uuid)).toEqual(before);
    expectRefusedWith(rkt(['app', 'add', uuid, 'example.com/admin']), REFUSED.capability('admin', 'CAP_NET_ADMIN'));
    expect(addWrites(uuid)).toEqual(before);
    // --insecure-options=capabilities lifts no bound the pod's nspawn has: still refused.
    expectRefusedWith(rkt(['--insecure-options=image,capabilities', 'app', 'add', uuid, 'example.com/admin']), REFUSED.capability('admin', 'CAP_NET_ADMIN'));
    expect(addWrites(uuid)).toEqual(before);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('an add the stage1 refuses in its app/add (a stage1 without the check) pins nothing: its image is removable while the pod runs, as if never added', async () => {
    const { uuid, done } = await startSandbox();
    // A stage1 without app modules, so without their check: stage0 executes app/add, which refuses the app after
    // stage0's writes, then undone.
    withoutAppModules(join(env.dataDir, 'pods', 'run', uuid));
    const before = addWrites(uuid);
    const refused = () => expectRefusedWith(rkt(['app', 'add', uuid, aci, '--name=admin', '--exec=/bin/true', '--caps-retain=CAP_NET_ADMIN']), REFUSED.capability('admin', 'CAP_NET_ADMIN'));
    // The image the pod does not use otherwise: rendered and referenced for the pod, then refused by the stage1.
    refused();
    // Undone, not unwritten (what the check spares): the app's directory made and removed, its root unmounted.
    const after = addWrites(uuid);
    expect(after.appsinfo.names).toEqual(before.appsinfo.names);
    expect(after.appsinfo.mtimeMs).not.toBe(before.appsinfo.mtimeMs);
    expect(after.mounts).toEqual(before.mounts);
    const rm = env.run(['image', 'rm', 'example.com/busybox']);
    expect(rm.status, rm.stderr).toBe(0);
    // One the pod uses (an app added from it): still pinned after another add of it was refused.
    const add = rkt(['app', 'add', uuid, aci, '--name=ok', '--exec=/bin/true']);
    expect(add.status, add.stderr).toBe(0);
    refused();
    const kept = env.run(['image', 'rm', 'example.com/busybox']);
    expect(kept.status).not.toBe(0);
    expect(kept.stderr).toMatch(new RegExp(`is used by pod ${uuid}`));
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\nok\tcreated\n');
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('--private-users: apps added to the sandbox run as root of its user namespace, writing into a volume as its shifted ID', async () => {
    const { uuid, done } = await startSandbox([], ['--private-users']);
    const info = JSON.parse(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'pod-info.json'), 'utf8')) as { privateUsers?: { shift: number; count: number } };
    expect(info.privateUsers?.count).toBe(65536);
    const shift = info.privateUsers!.shift;
    // A host volume keeps the host's owners: the pod's root writes where anyone may.
    const shared = join(env.tmp, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const add = rkt(['app', 'add', uuid, aci, '--name=writer', '--exec=/bin/sh', `--mnt-volume=name=data,kind=host,source=${shared},target=/data`, '--', '-c', 'id -u > /data/uid; cat /proc/self/uid_map >> /data/uid; exec sleep 100']);
    expect(add.status, add.stderr).toBe(0);
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\nwriter\tcreated\n');
    const start = rkt(['app', 'start', uuid, '--app=writer']);
    expect(start.status, start.stderr).toBe(0);
    const out = join(shared, 'uid');
    await waitFor('the app to write its file', () => existsSync(out) && readFileSync(out, 'utf8').split('\n').length >= 3);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe('0');
    expect(readFileSync(out, 'utf8').split('\n')[1]!.trim().split(/\s+/).map(Number)).toEqual([0, shift, 65536]);
    expect(statSync(out).uid).toBe(shift);
    expect(appStatus(uuid, 'writer').state).toBe('running');
    const stop = rkt(['app', 'stop', uuid, '--app=writer']);
    expect(stop.status, stop.stderr).toBe(0);
    expect(appStatus(uuid, 'writer')).toMatchObject({ state: 'exited', exit_code: 143 });
    const rm = rkt(['app', 'rm', uuid, '--app=writer']);
    expect(rm.status, rm.stderr).toBe(0);
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\n');
    expect(env.mounts().filter((m) => m.includes('/appsinfo/writer'))).toEqual([]);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('refuses a pod that is not running, not mutable, or of a stage1 without app entrypoints', async () => {
    // Prepared, not running.
    const prepared = env.run(['prepare', aci, '--exec=/bin/true']);
    expect(prepared.status, prepared.stderr).toBe(0);
    const preparedUuid = prepared.stdout.trim();
    expectRefused(rkt(['app', 'add', preparedUuid, aci]), /isn't currently running \(it is prepared\)/);
    expectRefused(rkt(['app', 'start', preparedUuid, '--app=busybox']), /isn't currently running/);

    // Running, but made by `rkt run`: immutable.
    const immutable = env.start(['run', aci, '--exec=/bin/sleep', '--', '100']);
    const { uuid } = await env.waitRunning();
    const before = manifestOf(uuid);
    expectRefused(rkt(['app', 'add', uuid, aci, '--name=extra']), /pod [0-9a-f-]+ is immutable/);
    expectRefused(rkt(['app', 'stop', uuid, '--app=busybox']), /is immutable/);
    expect(manifestOf(uuid)).toBe(before);
    expect(env.run(['stop', uuid]).status).toBe(0);
    await immutable.done;

    // fly (interface version 4): no app commands on its pods, no sandbox of it, nothing left behind.
    const fly = STAGE1S.find((s) => s.name === 'fly')!;
    const flyRun = env.start(['run', `--stage1-path=${fly.aci}`, aci, '--exec=/bin/sleep', '--', '100']);
    const flyPod = await env.waitRunning();
    expectRefused(rkt(['app', 'add', flyPod.uuid, aci, '--name=extra']), /has interface version 4, without app entrypoints \(version 5\): cannot add an app/);
    expectRefused(rkt(['app', 'start', flyPod.uuid, '--app=busybox']), /has interface version 4/);
    expect(env.run(['stop', flyPod.uuid]).status).toBe(0);
    await flyRun.done;
    const pods = env.podUuids().length;
    expectRefused(rkt(['app', 'sandbox', `--stage1-path=${fly.aci}`]), /cannot run a mutable pod: its interface version is 4/);
    expect(env.podUuids()).toHaveLength(pods);
    expectNothingLeft(env, uuid);
  }, 120_000);

  /** A local configuration directory `name` whose events.d names the NATS server at `url`: its --local-config flag. */
  const eventsConfig = (name: string, url: string): string => {
    const etc = join(env.tmp, name);
    mkdirSync(join(etc, 'events.d'), { recursive: true });
    writeFileSync(join(etc, 'events.d', 'nats.json'), JSON.stringify({ rktKind: 'events', rktVersion: 'v1', nats: { servers: [url] } }));
    return `--local-config=${etc}`;
  };

  /** `rkt events --topic=app/` with `local`'s bus, once it has subscribed; the events it has printed so far. */
  const subscribeAppEvents = async (local: string) => {
    const sub = env.start([local, 'events', '--debug', '--format=json', '--topic=app/']);
    let out = '';
    let err = '';
    sub.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    sub.child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor('rkt events to subscribe', () => /subscribed to /.test(err));
    const events = () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { topic: string; podUuid: string; payload: Record<string, unknown> });
    return { sub, events };
  };

  /** The sandbox stopped (its run ends with 0), then the subscriber; nothing of the pod left. */
  const stopWithSubscriber = async (uuid: string, done: Promise<RktResult>, sub: { child: ChildProcess; done: Promise<unknown> }) => {
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    sub.child.kill('SIGINT');
    await sub.done;
    expectNothingLeft(env, uuid);
  };

  it('publishes each app\'s added, started, exited and removed events on the event bus', async () => {
    const server = await startNatsServer();
    try {
      const local = eventsConfig('etc', server.url);
      const { sub, events } = await subscribeAppEvents(local);

      const { uuid, done } = await startSandbox([local]);
      const ok = (r: RktResult) => expect(r.status, r.stderr).toBe(0);
      ok(rkt([local, 'app', 'add', uuid, aci, '--name=web', '--exec=/bin/sleep', '--', '100']));
      ok(rkt([local, 'app', 'start', uuid, '--app=web']));
      ok(rkt([local, 'app', 'stop', uuid, '--app=web']));
      ok(rkt([local, 'app', 'add', uuid, aci, '--name=quitter', '--exec=/bin/sh', '--', '-c', 'exit 3']));
      ok(rkt([local, 'app', 'start', uuid, '--app=quitter']));
      await waitFor('quitter to end', () => events().some((e) => e.topic === 'app/exited' && e.payload.app === 'quitter'));
      ok(rkt([local, 'app', 'rm', uuid, '--app=web']));
      await waitFor('app/removed', () => events().some((e) => e.topic === 'app/removed'));
      expect(events().every((e) => e.podUuid === uuid)).toBe(true);
      expect(events().map((e) => [e.topic, e.payload])).toEqual([
        ['app/added', { app: 'web', image: 'example.com/busybox' }],
        ['app/started', { app: 'web', image: 'example.com/busybox' }],
        ['app/exited', { app: 'web', exitStatus: 143 }],
        ['app/added', { app: 'quitter', image: 'example.com/busybox' }],
        ['app/started', { app: 'quitter', image: 'example.com/busybox' }],
        ['app/exited', { app: 'quitter', exitStatus: 3 }],
        ['app/removed', { app: 'web' }],
      ]);
      await stopWithSubscriber(uuid, done, sub);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('an app that ends at once has its app/started before its app/exited, though rkt app start reaches the bus late', async () => {
    const server = await startNatsServer();
    // rkt app start's way to the server: a proxy that holds every chunk 300 ms each way, so its connection comes up
    // and its event arrives about a second late, while the sandbox's connection is up already. An exit published
    // as soon as it is seen (every 200 ms) would come first.
    const held = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(server.port, '127.0.0.1');
      held.add(client).add(upstream);
      const relay = (from: Socket, to: Socket) => {
        from.on('data', (d: Buffer) => setTimeout(() => to.destroyed || to.write(d), 300));
        from.on('close', () => setTimeout(() => to.destroy(), 300));
        from.on('error', () => {});
      };
      relay(client, upstream);
      relay(upstream, client);
    });
    try {
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      const proxyPort = (proxy.address() as AddressInfo).port;
      const direct = eventsConfig('etc-direct', `nats://127.0.0.1:${server.port}`);
      const slow = eventsConfig('etc-slow', `nats://127.0.0.1:${proxyPort}`);
      const { sub, events } = await subscribeAppEvents(direct);
      const exits = () => events().filter((e) => e.topic === 'app/exited').length;

      const { uuid, done } = await startSandbox([direct]);
      const ok = (r: RktResult) => expect(r.status, r.stderr).toBe(0);
      ok(rkt([direct, 'app', 'add', uuid, aci, '--name=quitter', '--exec=/bin/sh', '--', '-c', 'exit 3']));
      const rounds = 3;
      for (let round = 1; round <= rounds; round++) {
        // Asynchronously: the proxy is this process's.
        ok(await rktAsync([slow, 'app', 'start', uuid, '--app=quitter']));
        await waitFor(`round ${round}'s exit`, () => exits() === round);
        await waitFor(`round ${round}'s start`, () => events().filter((e) => e.topic === 'app/started').length === round);
      }
      const started = { app: 'quitter', image: 'example.com/busybox' };
      const exited = { app: 'quitter', exitStatus: 3 };
      expect(events().map((e) => [e.topic, e.payload])).toEqual([
        ['app/added', started],
        ...Array.from({ length: rounds }, () => [['app/started', started], ['app/exited', exited]]).flat(),
      ]);
      await stopWithSubscriber(uuid, done, sub);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => proxy.close(r));
      await server.stop();
    }
  }, 120_000);

  it("calls the stage1's app modules in its own process (no second Node start), and the read commands load no zod, child_process, net, stream or os", async () => {
    const { uuid, done } = await startSandbox();
    // bin/rkt as a user runs it, with a preload that reports at exit what got loaded: the CLI's vendored zod (its
    // code cache) or node_modules' zod, the built-ins the read commands must not need, and the stage1's files.
    const preload = join(env.tmp, 'report-loaded.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => {
  const builtins = new Set(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)));
  const zod = Object.keys(require.cache).some((k) => k.includes('/node_modules/zod/')) || globalThis[Symbol.for('rkt-ts.vendored')].loaded.has('zod');
  const stage1 = Object.keys(require.cache).filter((k) => k.includes('/rootfs/rkt/')).map((k) => k.slice(k.lastIndexOf('/') + 1));
  process.stderr.write('LOADED ' + JSON.stringify({ zod, builtins: ['child_process', 'net', 'stream', 'os'].filter((b) => builtins.has(b)), stage1 }) + '\\n');
});
`,
    );
    const loaded = (args: readonly string[]): { zod: boolean; builtins: string[]; stage1: string[] } => {
      const r = spawnSync(process.execPath, ['-r', preload, rktBin, ...env.args(args)], { cwd: env.tmp, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RKT_EXPERIMENT_APP: 'true' } });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
      return JSON.parse(line!.slice(7)) as ReturnType<typeof loaded>;
    };
    // Each app command ran its stage1's module in this process (the module was required) and did its work.
    expect(loaded(['app', 'add', uuid, aci, '--name=web', '--exec=/bin/sleep', '--', '100']).stage1).toEqual(['app-add']);
    expect(loaded(['app', 'start', uuid, '--app=web'])).toMatchObject({ zod: false, stage1: ['app-start'] });
    expect(appStatus(uuid, 'web').state).toBe('running');
    for (const cmd of [['app', 'list', uuid], ['app', 'status', uuid, '--app=web'], ['status', uuid], ['list']]) {
      expect(loaded(cmd), cmd.join(' ')).toEqual({ zod: false, builtins: [], stage1: [] });
    }
    expect(loaded(['app', 'stop', uuid, '--app=web'])).toMatchObject({ zod: false, stage1: ['app-stop'] });
    expect(appStatus(uuid, 'web')).toMatchObject({ state: 'exited', exit_code: 143 });
    expect(loaded(['app', 'rm', uuid, '--app=web'])).toMatchObject({ zod: false, stage1: ['app-rm'] });
    expect(rkt(['app', 'list', uuid]).stdout).toBe('NAME\tSTATE\n');
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('an app rm that changed nothing leaves the app as it was; one whose stage1 failed after acting leaves it removing, for a second rm to finish', async () => {
    const { uuid, done } = await startSandbox();
    const podDir = join(env.dataDir, 'pods', 'run', uuid);
    const stage1Manifest = join(podDir, 'stage1', 'manifest');
    const original = readFileSync(stage1Manifest, 'utf8');
    const appRmKey = 'coreos.com/rkt/stage1/app/rm';
    // The pod's copy of its stage1 manifest with this app/rm entrypoint (none: undefined) and without app modules,
    // so that stage0 executes the entrypoint.
    const withAppRm = (entrypoint: string | undefined): void => {
      const m = JSON.parse(original) as { annotations: { name: string; value: string }[] };
      const kept = m.annotations.filter((a) => a.name !== appRmKey && !/^rkt-ts\.dev\/stage1\/app-[a-z]+-module/.test(a.name));
      writeFileSync(stage1Manifest, JSON.stringify({ ...m, annotations: [...kept, ...(entrypoint !== undefined ? [{ name: appRmKey, value: entrypoint }] : [])] }));
    };
    const listed = (): string => rkt(['app', 'list', '--no-legend', uuid]).stdout;
    const rm = (): RktResult => rkt(['app', 'rm', uuid, '--app=web']);
    const mark = join(podDir, 'appsinfo', 'web', 'removing');
    expect(rkt(['app', 'add', uuid, aci, '--name=web', '--exec=/bin/sleep', '--', '100']).status).toBe(0);
    expect(rkt(['app', 'start', uuid, '--app=web']).status).toBe(0);
    expect(listed()).toBe('web\trunning\n');

    // A stage1 without app/rm: refused before the mark.
    withAppRm(undefined);
    expectRefused(rm(), /the stage1 of pod [0-9a-f-]+ has no app\/rm entrypoint/);
    expect(existsSync(mark)).toBe(false);
    expect(listed()).toBe('web\trunning\n');

    // An app/rm that cannot be executed: its mark taken away, the app running on, stopped and started again.
    withAppRm('/rkt/no-such-app-rm');
    expectRefused(rm(), /cannot run the stage1 app\/rm entrypoint \S*\/rkt\/no-such-app-rm: spawn \S* ENOENT/);
    expect(existsSync(mark)).toBe(false);
    expect(listed()).toBe('web\trunning\n');
    expect(rkt(['app', 'stop', uuid, '--app=web']).status).toBe(0);
    expect(rkt(['app', 'start', uuid, '--app=web']).status).toBe(0);
    expect(listed()).toBe('web\trunning\n');

    // An app/rm that fails after acting (the stage1's own runs, then this one fails): removing, start refused.
    const failing = join(env.tmp, 'failing-app-rm');
    writeFileSync(failing, `#!/bin/sh\n${join(podDir, 'stage1', 'rootfs', 'rkt', 'app-rm')} "$@" || exit\necho 'app/rm: failed after removing the units' >&2\nexit 1\n`, { mode: 0o755 });
    withAppRm(relative(join(podDir, 'stage1', 'rootfs'), failing));
    expectRefused(rm(), /app\/rm: failed after removing the units/);
    expect(listed()).toBe('web\tremoving\n');
    expectRefused(rkt(['app', 'start', uuid, '--app=web']), /an "rkt app rm" of it did not finish/);
    // An rm that then cannot be executed keeps that mark; one with the stage1's own app/rm finishes the removal.
    withAppRm('/rkt/no-such-app-rm');
    expectRefused(rm(), /ENOENT/);
    expect(listed()).toBe('web\tremoving\n');
    writeFileSync(stage1Manifest, original);
    const second = rm();
    expect(second.status, second.stderr).toBe(0);
    expect(listed()).toBe('');
    expect(existsSync(join(podDir, 'appsinfo', 'web'))).toBe(false);
    expect(env.run(['stop', uuid]).status).toBe(0);
    expect((await done).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);

  it('a kill -9 of rkt app sandbox ends the pod and its added apps; gc leaves nothing of them', async () => {
    const { uuid, done } = await startSandbox();
    expect(rkt(['app', 'add', uuid, aci, '--name=web', '--exec=/bin/sleep', '--', '100']).status).toBe(0);
    expect(rkt(['app', 'start', uuid, '--app=web']).status).toBe(0);
    expect(appStatus(uuid, 'web').state).toBe('running');
    expect(env.mounts().some((m) => m.includes(`/appsinfo/web/rootfs`))).toBe(true);
    for (const c of env.children) c.kill('SIGKILL');
    await done;
    await env.waitState(uuid, 'exited');
    // What a killed run leaves (its cgroups, nspawn's propagation directory, the shared appsinfo mount with the
    // app's root under it) is gc's, as for rkt run.
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expectNothingLeft(env, uuid);
  }, 120_000);
});
