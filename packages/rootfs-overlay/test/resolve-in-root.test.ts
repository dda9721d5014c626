import { lstat, mkdir, readdir, readFile, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { bindMount, RootfsError } from '../src/index.js';
import { readOnlyRemountFlags } from '../src/bind-mount.js';
import { resolveInRoot } from '../src/resolve-in-root.js';
import { rawMountsUnder, useTempDirs } from './helpers.js';

const temp = useTempDirs();

/** A root with a sibling "host" directory next to it, standing for what an escape would reach. */
async function layout(): Promise<{ root: string; outside: string }> {
  const top = await realpath(await temp.make('resolve-'));
  const root = join(top, 'a', 'b', 'rootfs');
  const outside = join(top, 'a', 'etc');
  await mkdir(root, { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'passwd'), 'host file\n');
  return { root, outside };
}

describe('resolveInRoot', () => {
  it('resolves a plain path and creates what is missing', async () => {
    const { root } = await layout();
    const r = await resolveInRoot(root, '/var/lib/data', { create: 'dir' });
    expect(r.hostPath).toBe(join(root, 'var/lib/data'));
    expect(r.inRoot).toBe('/var/lib/data');
    expect((await stat(r.hostPath)).isDirectory()).toBe(true);
  });

  it('keeps an absolute link to /../../etc inside the root', async () => {
    const { root, outside } = await layout();
    await symlink('/../../etc', join(root, 'data'));
    const r = await resolveInRoot(root, '/data', { create: 'dir' });
    expect(r.hostPath).toBe(join(root, 'etc'));
    expect(await readdir(outside)).toEqual(['passwd']);
  });

  it('clamps a relative link climbing out with .. at the root', async () => {
    const { root, outside } = await layout();
    await mkdir(join(root, 'srv'));
    await symlink('../../../../etc', join(root, 'srv', 'x'));
    const r = await resolveInRoot(root, 'srv/x/passwd', { create: 'file' });
    expect(r.hostPath).toBe(join(root, 'etc', 'passwd'));
    expect(r.kind).toBe('file');
    expect(await readFile(join(outside, 'passwd'), 'utf8')).toBe('host file\n');
  });

  it('clamps .. in the path itself', async () => {
    const { root } = await layout();
    const r = await resolveInRoot(root, '/../../../a/../etc', { create: 'dir' });
    expect(r.hostPath).toBe(join(root, 'etc'));
  });

  it('follows a chain of links, each resolved inside the root', async () => {
    const { root } = await layout();
    await mkdir(join(root, 'real'));
    await symlink('/l2', join(root, 'l1'));
    await symlink('l3/../real', join(root, 'l2'));
    await symlink('/../..', join(root, 'l3'));
    const r = await resolveInRoot(root, '/l1/inner', { create: 'dir' });
    expect(r.hostPath).toBe(join(root, 'real', 'inner'));
  });

  it('follows a link whose target is missing by creating the target inside the root', async () => {
    const { root } = await layout();
    await symlink('/opt/../opt/store', join(root, 'data'));
    const r = await resolveInRoot(root, '/data', { create: 'dir' });
    expect(r.hostPath).toBe(join(root, 'opt', 'store'));
    expect((await lstat(join(root, 'data'))).isSymbolicLink()).toBe(true);
  });

  it('refuses a link loop with ELOOP wording', async () => {
    const { root } = await layout();
    await symlink('/b', join(root, 'a'));
    await symlink('/a', join(root, 'b'));
    await expect(resolveInRoot(root, '/a/x', { create: 'dir' })).rejects.toThrow(/too many levels of symbolic links/);
  });

  it('refuses a path through a file, and a kind that does not match', async () => {
    const { root } = await layout();
    await writeFile(join(root, 'f'), 'x');
    await expect(resolveInRoot(root, '/f/sub', { create: 'dir' })).rejects.toThrow(/not a directory/);
    await expect(resolveInRoot(root, '/f', { create: 'dir' })).rejects.toThrow(/exists and is not a directory/);
    await mkdir(join(root, 'd'));
    await expect(resolveInRoot(root, '/d', { create: 'file' })).rejects.toThrow(/exists and is a directory/);
  });

  it('refuses a target that resolves to the root itself', async () => {
    const { root } = await layout();
    await symlink('/', join(root, 'top'));
    const err = await resolveInRoot(root, '/top/..', { create: 'dir' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect((err as RootfsError).code).toBe('ROOTFS_BAD_INPUT');
    expect((err as Error).message).toMatch(/resolves to the root itself/);
  });

  it('without create, a missing component is an error and nothing is created', async () => {
    const { root } = await layout();
    await expect(resolveInRoot(root, '/no/such')).rejects.toThrow(/no such file or directory/);
    expect(await readdir(root)).toEqual([]);
  });

  it('with allowMissing, tells where a missing path would be made, through links, creating nothing', async () => {
    const { root, outside } = await layout();
    await mkdir(join(root, 'usr', 'etc'), { recursive: true });
    await symlink('/usr/etc', join(root, 'etc'));
    await symlink('/../../run/missing/x/../hosts', join(root, 'usr', 'etc', 'hosts'));
    const r = await resolveInRoot(root, '/etc/hosts', { allowMissing: true });
    expect(r).toEqual({ hostPath: join(root, 'run', 'missing', 'hosts'), inRoot: '/run/missing/hosts', kind: 'missing' });
    expect(await readdir(root)).toEqual(['etc', 'usr']);
    expect(await readdir(outside)).toEqual(['passwd']);
    // What exists is found as without the option; create then makes exactly the path reported.
    expect((await resolveInRoot(root, '/etc', { allowMissing: true })).kind).toBe('dir');
    expect((await resolveInRoot(root, '/etc/hosts', { create: 'file' })).hostPath).toBe(r.hostPath);
    expect((await resolveInRoot(root, '/etc/hosts', { allowMissing: true })).kind).toBe('file');
    // Only missing components are taken lexically: a file on the way is still no directory.
    await writeFile(join(root, 'f'), '');
    await expect(resolveInRoot(root, '/f/x', { allowMissing: true })).rejects.toThrow(/not a directory/);
  });

  it('names why and where a path cannot be used, as error fields', async () => {
    const { root } = await layout();
    await symlink('/loop', join(root, 'loop'));
    const err = (await resolveInRoot(root, '/loop/x', { allowMissing: true }).catch((e: unknown) => e)) as RootfsError;
    expect(err.reason).toBe('too many levels of symbolic links');
    expect(err.inRoot).toBe('/loop');
    await symlink('/dev/null', join(root, 'null'));
    await mkdir(join(root, 'dev'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mknod', [join(root, 'dev', 'null'), 'c', '1', '3']);
    await expect(resolveInRoot(root, '/null', { create: 'file' })).rejects.toThrow(/exists and is not a regular file/);
  });

  it('a bind mount on the result lands inside the root, read-only when asked', async () => {
    const { root, outside } = await layout();
    const src = await realpath(await temp.make('resolve-src-'));
    await writeFile(join(src, 'v'), 'volume\n');
    await symlink('/../../etc', join(root, 'data'));
    const r = await resolveInRoot(root, '/data', { create: 'dir' });
    await bindMount({ source: src, target: r.hostPath, readOnly: true });
    try {
      expect(await rawMountsUnder(root)).toEqual([join(root, 'etc')]);
      expect(await readFile(join(root, 'etc', 'v'), 'utf8')).toBe('volume\n');
      await expect(writeFile(join(root, 'etc', 'w'), 'x')).rejects.toThrow(/EROFS|read-only/i);
      expect(await readdir(outside)).toEqual(['passwd']);
    } finally {
      const { unmountTree } = await import('../src/index.js');
      await unmountTree(root);
    }
  });
});

describe('bindMount', () => {
  it.each([false, true])('a recursive read-only bind makes the mounts below the source read-only too, and leaves the source alone (mount(8): %s)', async (useMountTool) => {
    const src = await realpath(await temp.make('bind-src-'));
    const target = await realpath(await temp.make('bind-target-'));
    await mkdir(join(src, 'sub'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rkt-bind-test', join(src, 'sub')]);
    try {
      await writeFile(join(src, 'sub', 'f'), 'below\n');
      await bindMount({ source: src, target, readOnly: true, recursive: true, useMountTool });
      expect(await rawMountsUnder(target)).toEqual([target, join(target, 'sub')]);
      expect(await readFile(join(target, 'sub', 'f'), 'utf8')).toBe('below\n');
      await expect(writeFile(join(target, 'top'), 'x')).rejects.toThrow(/EROFS|read-only/i);
      await expect(writeFile(join(target, 'sub', 'g'), 'x')).rejects.toThrow(/EROFS|read-only/i);
      // The host's own mounts stay writable: the remounts touched the bind's copies only.
      await writeFile(join(src, 'sub', 'g'), 'host\n');
      await writeFile(join(src, 'top'), 'host\n');
    } finally {
      const { unmountTree } = await import('../src/index.js');
      await unmountTree(target);
      await unmountTree(join(src, 'sub'));
    }
  });

  it.each([false, true])("a read-only bind keeps the source mount's nosuid, nodev, noexec and atime mode (mount(8): %s)", async (useMountTool) => {
    const src = await realpath(await temp.make('bind-src-'));
    const target = await realpath(await temp.make('bind-target-'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nosuid,nodev,noexec,noatime', 'rkt-bind-test', src]);
    try {
      await writeFile(join(src, 'f'), 'x\n');
      await bindMount({ source: src, target, readOnly: true, useMountTool });
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === target).pop()!;
      expect(line.split(' ')[5]!.split(',').sort()).toEqual(['noatime', 'nodev', 'noexec', 'nosuid', 'ro']);
      // Private: no propagation field.
      expect(line.split(' - ')[0]!.split(' ').slice(6)).toEqual([]);
      expect(await readFile(join(target, 'f'), 'utf8')).toBe('x\n');
    } finally {
      const { unmountTree } = await import('../src/index.js');
      await unmountTree(target);
      await unmountTree(src);
    }
  });

  it('readOnlyRemountFlags keeps the per-mount flags and the atime mode of a mountinfo line', () => {
    const flags = (options: string) => readOnlyRemountFlags({ options });
    const RO_REMOUNT = 0x20 | 0x1000 | 0x1;
    expect(flags('rw,relatime')).toBe(RO_REMOUNT | 0x200000);
    expect(flags('rw,nosuid,nodev,noexec,noatime')).toBe(RO_REMOUNT | 0x2 | 0x4 | 0x8 | 0x400);
    expect(flags('ro,nodiratime,relatime,nosymfollow')).toBe(RO_REMOUNT | 0x800 | 0x200000 | 0x100);
    // Neither noatime nor relatime: strictatime, which the kernel would otherwise turn into relatime.
    expect(flags('rw,nosuid')).toBe(RO_REMOUNT | 0x2 | 0x1000000);
  });

  it('a plain bind takes no mounts below the source along', async () => {
    const src = await realpath(await temp.make('bind-src-'));
    const target = await realpath(await temp.make('bind-target-'));
    await mkdir(join(src, 'sub'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rkt-bind-test', join(src, 'sub')]);
    try {
      await writeFile(join(src, 'sub', 'f'), 'below\n');
      await bindMount({ source: src, target });
      expect(await rawMountsUnder(target)).toEqual([target]);
      expect(await readdir(join(target, 'sub'))).toEqual([]);
      await writeFile(join(target, 'top'), 'rw\n');
    } finally {
      const { unmountTree } = await import('../src/index.js');
      await unmountTree(target);
      await unmountTree(join(src, 'sub'));
    }
  });
});

describe('bindMount targets', () => {
  it('binds a file on a file, read-only', async () => {
    const dir = await realpath(await temp.make('bind-file-'));
    await writeFile(join(dir, 'source.conf'), 'conf\n');
    await writeFile(join(dir, 'target.conf'), '');
    await bindMount({ source: join(dir, 'source.conf'), target: join(dir, 'target.conf'), readOnly: true });
    try {
      expect(await readFile(join(dir, 'target.conf'), 'utf8')).toBe('conf\n');
      await expect(writeFile(join(dir, 'target.conf'), 'x')).rejects.toThrow(/EROFS|read-only/i);
    } finally {
      const { unmountTree } = await import('../src/index.js');
      await unmountTree(join(dir, 'target.conf'));
    }
  });

  it('refuses a target with a symlink anywhere in it (swapped in after resolution), mounting nothing', async () => {
    const dir = await realpath(await temp.make('bind-link-'));
    const src = await realpath(await temp.make('bind-src-'));
    await mkdir(join(dir, 'real', 'sub'), { recursive: true });
    await symlink('real', join(dir, 'link'));
    const err = await bindMount({ source: src, target: join(dir, 'link', 'sub') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect((err as Error).message).toMatch(/link became a symbolic link/);
    expect(await rawMountsUnder(dir)).toEqual([]);
  });
});
