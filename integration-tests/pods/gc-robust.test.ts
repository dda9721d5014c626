// rkt's most reported gc bug was "device or resource busy" leaking mounts and stopping gc. Here a
// busy pod rootfs is detached lazily, and a pod that cannot be deleted does not stop the others.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, RktEnv, STAGE1S } from './harness.js';

let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
const undo: (() => void)[] = [];

beforeAll(() => ensureBuilt(), 600_000);
afterEach(async () => {
  for (const u of undo.splice(0)) u();
  await env.cleanup();
});

const listed = (): { name: string; state: string }[] => JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];

describe.each(STAGE1S)('gc past busy and faulty pods ($name)', (stage1) => {
  beforeEach(() => {
    env = new RktEnv(stage1);
    aci = fileAci.path;
  });

  it('gc detaches a busy pod rootfs lazily and leaves no mount behind', async () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const [pod] = listed();
    const rootfs = join(env.dataDir, 'pods', 'run', pod!.name, 'appsinfo', 'busybox', 'rootfs');
    // A host process working inside the pod's rootfs keeps the mount busy.
    const squatter = spawn('sleep', ['60'], { cwd: join(rootfs, 'tmp'), stdio: 'ignore' });
    undo.push(() => squatter.kill('SIGKILL'));
    await new Promise((r) => squatter.once('spawn', r));
    expect(spawnSync('umount', [rootfs]).status).not.toBe(0); // really busy

    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.stderr).toBe('');
    expect(gc.stdout).toContain(`Garbage collecting pod "${pod!.name}"`);
    expect(gc.status).toBe(0);
    expect(env.mounts()).toEqual([]);
    expect(listed()).toEqual([]);
  });

  it("a pod left in garbage/ (its gc killed) keeps its trees from image gc, and the next gc removes it", () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const [pod] = listed();
    const uuid = pod!.name;
    // As a gc killed between its move and its deletion leaves it (seen with kill -9): in garbage/, mounted.
    const garbage = join(env.dataDir, 'pods', 'garbage', uuid);
    renameSync(join(env.dataDir, 'pods', 'run', uuid), garbage);
    // Relative (pod format version 2): from the link's own directory.
    const stage1Tree = resolve(join(garbage, 'stage1'), readlinkSync(join(garbage, 'stage1', 'rootfs')));
    expect(env.run(['image', 'gc', '--grace-period=0s']).status).toBe(0);
    // Its stage1's gc entrypoint and the lower dir of its mounted rootfs: an image gc took both once.
    expect(existsSync(stage1Tree)).toBe(true);
    expect(env.mounts().length).toBeGreaterThan(0);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.stderr).toBe('');
    expect(gc.stdout).toContain(`Garbage collecting pod "${uuid}"`);
    expect(gc.status).toBe(0);
    expect(env.mounts()).toEqual([]);
    expect(listed()).toEqual([]);
  });

  it('gc removes a pod killed before its stage1 was in place (no stage1 rootfs to run a gc from)', () => {
    const prepared = env.run(['prepare', '--quiet', aci]);
    expect(prepared.status).toBe(0);
    const uuid = prepared.stdout.trim();
    // A prepare killed while the stage1's tree rendered leaves stage1/ with its manifest and no rootfs.
    rmSync(join(env.dataDir, 'pods', 'prepared', uuid, 'stage1', 'rootfs'));
    const gc = env.run(['gc', '--grace-period=0s', '--expire-prepared=0s']);
    expect(gc.stderr).toBe('');
    expect(gc.stdout).toContain(`Garbage collecting pod "${uuid}"`);
    expect(gc.status).toBe(0);
    expect(listed()).toEqual([]);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
  });

  it('gc carries on past a pod it cannot delete, reports it, and removes it once it can', (ctx) => {
    expect(env.run(['run', aci, '--name=stuck', '--exec=/bin/sh', '--', '-c', 'echo x > /stuck']).status).toBe(0);
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const pods = listed();
    expect(pods).toHaveLength(2);
    const stuckUuid = pods.find((p) => existsSync(join(env.dataDir, 'pods', 'run', p.name, 'appsinfo', 'stuck')))!.name;
    // An immutable file in the pod's upper dir cannot be deleted, even by root.
    const upperFile = join(env.dataDir, 'pods', 'run', stuckUuid, 'appsinfo', 'stuck', 'overlay', 'upper', 'stuck');
    const chattr = spawnSync('chattr', ['+i', upperFile], { encoding: 'utf8' });
    // tmpfs and some other filesystems have no immutable flag: nothing to test with there.
    if (chattr.status !== 0 && /not supported|Inappropriate ioctl/i.test(chattr.stderr)) ctx.skip(`chattr +i unsupported here: ${chattr.stderr.trim()}`);
    expect(chattr.status, `chattr: ${chattr.stderr}`).toBe(0);
    undo.push(() => {
      for (const state of ['garbage', 'exited-garbage', 'run']) {
        spawnSync('chattr', ['-i', join(env.dataDir, 'pods', state, stuckUuid, 'appsinfo', 'stuck', 'overlay', 'upper', 'stuck')]);
      }
    });

    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.status).toBe(254);
    // The file and its errno, not the ENOTDIR of a scandir Node's rm reports when it cannot unlink a file.
    const stuckFile = join(env.dataDir, 'pods', 'garbage', stuckUuid, 'appsinfo', 'stuck', 'overlay', 'upper', 'stuck');
    expect(gc.stderr).toBe(`gc: pod ${stuckUuid}: cannot remove ${stuckFile}: operation not permitted (immutable or append-only? see lsattr)\n`);
    const other = pods.find((p) => p.name !== stuckUuid)!.name;
    expect(gc.stdout).toContain(`Garbage collecting pod "${other}"`);
    // The faulty pod is unmounted all the same: nothing of either pod stays in the mount table.
    expect(env.mounts()).toEqual([]);
    expect(listed().map((p) => p.name)).toEqual([stuckUuid]);

    spawnSync('chattr', ['-i', join(env.dataDir, 'pods', 'garbage', stuckUuid, 'appsinfo', 'stuck', 'overlay', 'upper', 'stuck')]);
    const again = env.run(['gc', '--grace-period=0s']);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`Garbage collecting pod "${stuckUuid}"\n`);
    expect(readdirSync(join(env.dataDir, 'pods', 'garbage'))).toEqual([]);
  });

  it('rm of a pod with an immutable file in its rootfs (--no-overlay) names the file and EPERM, removes the others, and a later gc removes it', (ctx) => {
    expect(env.run(['run', '--no-overlay', aci, '--name=stuck', '--exec=/bin/sh', '--', '-c', 'echo x > /stuck']).status).toBe(0);
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const pods = listed();
    const stuckUuid = pods.find((p) => existsSync(join(env.dataDir, 'pods', 'run', p.name, 'appsinfo', 'stuck')))!.name;
    const other = pods.find((p) => p.name !== stuckUuid)!.name;
    const inRootfs = (state: string) => join(env.dataDir, 'pods', state, stuckUuid, 'appsinfo', 'stuck', 'rootfs', 'stuck');
    const chattr = spawnSync('chattr', ['+i', inRootfs('run')], { encoding: 'utf8' });
    if (chattr.status !== 0 && /not supported|Inappropriate ioctl/i.test(chattr.stderr)) ctx.skip(`chattr +i unsupported here: ${chattr.stderr.trim()}`);
    expect(chattr.status, `chattr: ${chattr.stderr}`).toBe(0);
    undo.push(() => {
      for (const state of ['garbage', 'exited-garbage', 'run']) spawnSync('chattr', ['-i', inRootfs(state)]);
    });

    const rm = env.run(['rm', stuckUuid.slice(0, 8), other]);
    expect(rm.status).toBe(254);
    expect(rm.stderr).toBe(`rm: error removing pod "${stuckUuid.slice(0, 8)}": cannot remove ${inRootfs('garbage')}: operation not permitted (immutable or append-only? see lsattr)\n`);
    expect(rm.stdout).toBe(`"${other}"\n`);
    // Left in garbage/ with the file, for a later gc; the rest of it went.
    expect(listed()).toEqual([expect.objectContaining({ name: stuckUuid, state: 'garbage' })]);
    expect(readdirSync(join(env.dataDir, 'pods', 'garbage', stuckUuid))).toEqual(['appsinfo']);
    expect(env.mounts()).toEqual([]);

    spawnSync('chattr', ['-i', inRootfs('garbage')]);
    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc).toMatchObject({ status: 0, stderr: '', stdout: `Garbage collecting pod "${stuckUuid}"\n` });
    expect(listed()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });
});

describe('gc and the overlay probes of killed rkt runs', () => {
  beforeEach(() => {
    env = new RktEnv();
  });

  /** A process's start time, field 22 of /proc/PID/stat. */
  const startTime = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.split(' ')[19] as string;

  it('gc unmounts and removes the probe of a dead rkt whose pid another process has now, and leaves a live one\'s', async () => {
    mkdirSync(env.dataDir, { recursive: true });
    // The pid a killed rkt run probed with, now another process's: the same pid, another start time.
    const other = spawn('sleep', ['600'], { stdio: 'ignore' });
    undo.push(() => other.kill('SIGKILL'));
    await new Promise((r) => other.once('spawn', r));
    const pid = other.pid as number;
    const stale = join(env.dataDir, `.overlay-probe-${pid}.${Number(startTime(pid)) - 1}-aB3dE9`);
    const live = join(env.dataDir, `.overlay-probe-${pid}.${startTime(pid)}-fG5hI7`);
    for (const probe of [stale, live]) {
      mkdirSync(join(probe, 'merged'), { recursive: true });
      expect(spawnSync('mount', ['-t', 'tmpfs', 'probe', join(probe, 'merged')]).status).toBe(0);
    }
    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.stderr).toBe('');
    expect(gc.status).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(env.mounts().map((l) => l.split(' ')[4])).toEqual([join(live, 'merged')]);
    // Once its creator is gone, the next gc takes the other one too.
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(existsSync(live)).toBe(false);
    expect(env.mounts()).toEqual([]);
  });
});
