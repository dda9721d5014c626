import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, RootfsError, unmountTree } from '../src/index.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const children: number[] = [];
afterEach(() => {
  for (const pid of children.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

function tmpfs(at: string): void {
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rkt-test', at]);
}

describe('unmountTree', () => {
  it('removes nested and stacked mounts deepest first, and leaves mounts beside the path alone', async () => {
    const root = await tmp.make();
    const pod = join(root, 'pod');
    await mkdir(join(pod, 'a'), { recursive: true });
    tmpfs(join(pod, 'a'));
    await mkdir(join(pod, 'a', 'b'));
    tmpfs(join(pod, 'a', 'b'));
    const lower = join(root, 'lower');
    await mkdir(lower);
    await writeFile(join(lower, 'f'), 'x');
    const app = join(pod, 'a', 'b', 'app');
    await mountAppRootfs({ lower, target: app, upper: join(pod, 'a', 'u'), work: join(pod, 'a', 'w'), mode: 'overlay' });
    await mkdir(join(app, 'proc'));
    tmpfs(join(app, 'proc'));
    // Two mounts stacked on one mount point.
    await mkdir(join(pod, 's'));
    tmpfs(join(pod, 's'));
    tmpfs(join(pod, 's'));
    // A sibling whose name extends the pod's: not under it.
    await mkdir(join(root, 'pod2'));
    tmpfs(join(root, 'pod2'));

    const before = (await mountsUnder(pod)).map((m) => m.mountPoint);
    expect(before).toHaveLength(6);
    expect(before).not.toContain(join(root, 'pod2'));

    const { unmounted } = await unmountTree(pod);
    expect(unmounted).toHaveLength(6);
    const at = (p: string): number => unmounted.indexOf(p);
    expect(at(join(app, 'proc'))).toBeLessThan(at(app));
    expect(at(app)).toBeLessThan(at(join(pod, 'a', 'b')));
    expect(at(join(pod, 'a', 'b'))).toBeLessThan(at(join(pod, 'a')));
    expect(unmounted.filter((p) => p === join(pod, 's'))).toHaveLength(2);
    expect(await mountsUnder(pod)).toEqual([]);
    expect((await mountsUnder(root)).map((m) => m.mountPoint)).toEqual([join(root, 'pod2')]);
    await unmountTree(join(root, 'pod2'));
  });

  it('detaches a busy mount lazily (a process has its cwd inside) and the process keeps running', async () => {
    const root = await tmp.make();
    const app = join(root, 'pod', 'rootfs');
    await mkdir(app, { recursive: true });
    tmpfs(app);
    await writeFile(join(app, 'data'), 'in use');
    const child = spawn('sleep', ['60'], { cwd: app, stdio: 'ignore' });
    children.push(child.pid as number);
    await new Promise((r) => child.once('spawn', r));
    // A plain umount really is refused while the process sits there.
    expect(() => sh('umount', [app])).toThrow(/busy/);

    const said: string[] = [];
    const { unmounted } = await unmountTree(join(root, 'pod'), { debug: (m) => said.push(m) });
    expect(unmounted).toEqual([app]);
    expect(said).toEqual([`rootfs: ${app} is busy (a process uses it); detaching it lazily`]);
    expect(await mountsUnder(root)).toEqual([]);
    // The pod's directory is now an ordinary empty directory: deleting it cannot reach the detached
    // filesystem, which the still-running process keeps using until it exits.
    expect(await readdir(app)).toEqual([]);
    expect(child.exitCode).toBeNull();
    expect(sh('cat', [`/proc/${child.pid}/cwd/data`])).toBe('in use');
  });

  it('with lazy: true detaches without trying a plain umount first', async () => {
    const root = await tmp.make();
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    tmpfs(join(root, 'a'));
    await mkdir(join(root, 'a', 'b'));
    tmpfs(join(root, 'a', 'b'));
    const { unmounted } = await unmountTree(root, { lazy: true });
    expect(unmounted).toEqual([join(root, 'a', 'b'), join(root, 'a')]);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('nothing mounted, or a path that does not exist: nothing to do', async () => {
    const root = await tmp.make();
    expect(await unmountTree(root)).toEqual({ unmounted: [] });
    expect(await unmountTree(join(root, 'gone', 'pod'))).toEqual({ unmounted: [] });
  });

  it('carries on past a mount it cannot unmount, unmounts the rest, then reports the failure', async () => {
    const root = await tmp.make();
    const bin = join(root, 'bin');
    await mkdir(bin);
    const stuck = join(root, 'pod', 'stuck');
    const fine = join(root, 'pod', 'fine');
    await mkdir(stuck, { recursive: true });
    await mkdir(fine);
    tmpfs(stuck);
    tmpfs(fine);
    // umount(8) refusing one mount point (as a mount locked in another namespace would); every
    // other call goes to the real umount.
    await writeFile(
      join(bin, 'umount'),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = '${stuck}' ] && { echo "umount: $a: permission denied." >&2; exit 32; }; done\nexec /usr/bin/umount "$@"\n`,
    );
    await chmod(join(bin, 'umount'), 0o755);
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    let err: unknown;
    try {
      err = await unmountTree(join(root, 'pod'), { useUmountTool: true }).catch((e: unknown) => e);
    } finally {
      process.env['PATH'] = path;
    }
    expect(err).toBeInstanceOf(RootfsError);
    expect(err).toMatchObject({
      code: 'ROOTFS_UNMOUNT',
      message: `cannot unmount ${stuck}: umount: ${stuck}: permission denied.`,
      unmounted: [fine],
      failures: [{ mountPoint: stuck, message: `umount: ${stuck}: permission denied.` }],
    });
    expect((await mountsUnder(root)).map((m) => m.mountPoint)).toEqual([stuck]);
    await unmountTree(root);
  });

  it('unmounts local filesystems with umount2(2) in this process, without umount(8)', async () => {
    const root = await tmp.make();
    const bin = join(root, 'bin');
    await mkdir(bin);
    const m = join(root, 'pod', 'app');
    await mkdir(m, { recursive: true });
    tmpfs(m);
    // An umount(8) that fails every call: only the system call can have done it.
    await writeFile(join(bin, 'umount'), '#!/bin/sh\necho "umount: broken" >&2\nexit 32\n');
    await chmod(join(bin, 'umount'), 0o755);
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    try {
      expect((await unmountTree(join(root, 'pod'))).unmounted).toEqual([m]);
      await expect(unmountTree(join(root, 'pod'), { useUmountTool: true })).resolves.toEqual({ unmounted: [] });
      tmpfs(m);
      await expect(unmountTree(join(root, 'pod'), { useUmountTool: true })).rejects.toMatchObject({ code: 'ROOTFS_UNMOUNT', message: `cannot unmount ${m}: umount: broken` });
    } finally {
      process.env['PATH'] = path;
    }
    await unmountTree(root);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it("unmounts with the caller's umount2(2) when given one (a stage1's gc module run in stage0's process)", async () => {
    const root = await tmp.make();
    const m = join(root, 'pod', 'app');
    await mkdir(m, { recursive: true });
    tmpfs(m);
    const calls: Array<[string, number]> = [];
    const { umount } = await import('../src/sys.js');
    const given = (target: string, flags: number): void => {
      calls.push([target, flags]);
      umount(target, flags);
    };
    expect((await unmountTree(join(root, 'pod'), { lazy: true, umount: given })).unmounted).toEqual([m]);
    // MNT_DETACH (2) | UMOUNT_NOFOLLOW (8): lazily, not following a symlink put in its place.
    expect(calls).toEqual([[m, 10]]);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('refuses to unmount everything under /', async () => {
    await expect(unmountTree('/')).rejects.toMatchObject({ code: 'ROOTFS_BAD_INPUT', message: 'refusing to unmount everything under / (asked for "/")' });
    await expect(unmountTree('/tmp/..')).rejects.toMatchObject({ code: 'ROOTFS_BAD_INPUT' });
  });

  it('gc of a busy pod with a bind-mounted host volume: after unmountTree, deleting the pod spares the volume and the image', async () => {
    const root = await tmp.make();
    const lower = join(root, 'cas', 'tree');
    await mkdir(join(lower, 'etc'), { recursive: true });
    await writeFile(join(lower, 'etc', 'os-release'), 'ID=test\n');
    const volume = join(root, 'host-volume');
    await mkdir(volume);
    await writeFile(join(volume, 'precious'), 'host data');
    const pod = join(root, 'pods', 'exited-garbage', 'p1');
    const app = join(pod, 'stage1', 'rootfs', 'opt', 'stage2', 'app', 'rootfs');
    await mountAppRootfs({ lower, target: app, upper: join(pod, 'overlay', 'upper'), work: join(pod, 'overlay', 'work'), mode: 'overlay' });
    await mkdir(join(app, 'data'));
    sh('mount', ['--bind', volume, join(app, 'data')]);
    // A leftover app process sits in the volume, so both mounts are busy.
    const child = spawn('sleep', ['60'], { cwd: join(app, 'data'), stdio: 'ignore' });
    children.push(child.pid as number);
    await new Promise((r) => child.once('spawn', r));

    const { unmounted } = await unmountTree(pod);
    expect(unmounted).toEqual([join(app, 'data'), app]);
    expect(await mountsUnder(pod)).toEqual([]);
    await rm(pod, { recursive: true });
    expect(await readFile(join(volume, 'precious'), 'utf8')).toBe('host data');
    expect(await readFile(join(lower, 'etc', 'os-release'), 'utf8')).toBe('ID=test\n');
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('a plain umount that hangs is killed after timeoutMs and the mount detached lazily', async () => {
    const root = await tmp.make();
    const bin = join(root, 'bin');
    await mkdir(bin);
    const hung = join(root, 'pod', 'nfs');
    await mkdir(hung, { recursive: true });
    tmpfs(hung);
    // umount(8) hanging on this mount point (as on a dead NFS server) unless asked to detach lazily.
    await writeFile(
      join(bin, 'umount'),
      `#!/bin/sh\ncase " $* " in *' --lazy '*) ;; *" ${hung} "*) exec sleep 30 ;; esac\nexec /usr/bin/umount "$@"\n`,
    );
    await chmod(join(bin, 'umount'), 0o755);
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    const said: string[] = [];
    const t0 = performance.now();
    try {
      expect((await unmountTree(join(root, 'pod'), { timeoutMs: 300, debug: (m) => said.push(m), useUmountTool: true })).unmounted).toEqual([hung]);
    } finally {
      process.env['PATH'] = path;
    }
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(said).toEqual([`rootfs: umount of ${hung} did not finish within 300 ms; detaching it lazily`]);
    expect(await mountsUnder(root)).toEqual([]);
  });
});
