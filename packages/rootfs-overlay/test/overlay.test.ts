import { chmod, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, RootfsError, unmountTree } from '../src/index.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

async function makeLower(root: string): Promise<string> {
  const lower = join(root, 'tree', 'rootfs');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await mkdir(join(lower, 'bin'), { recursive: true });
  await writeFile(join(lower, 'etc', 'hostname'), 'image\n');
  await writeFile(join(lower, 'bin', 'app'), '#!/bin/sh\necho hi\n');
  await chmod(join(lower, 'bin', 'app'), 0o755);
  await symlink('/bin/app', join(lower, 'bin', 'link'));
  return lower;
}

function podDirs(root: string, pod: string): { target: string; upper: string; work: string } {
  const base = join(root, 'pods', pod);
  return { target: join(base, 'stage1', 'rootfs', 'opt', 'stage2', 'app', 'rootfs'), upper: join(base, 'overlay', 'app', 'upper'), work: join(base, 'overlay', 'app', 'work') };
}

describe('overlay mode', () => {
  it('shows the lower tree, and writes land in the upper dir, never in the lower', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = podDirs(root, 'p1');
    const r = await mountAppRootfs({ lower, ...d, mode: 'overlay' });
    expect(r).toEqual({ mode: 'overlay', target: d.target });
    const mounts = await mountsUnder(root);
    expect(mounts.map((m) => [m.mountPoint, m.fsType])).toEqual([[d.target, 'overlay']]);
    expect(mounts[0]?.superOptions).toContain(`lowerdir=${lower}`);

    expect(await readFile(join(d.target, 'etc', 'hostname'), 'utf8')).toBe('image\n');
    expect((await stat(join(d.target, 'bin', 'app'))).mode & 0o777).toBe(0o755);

    await writeFile(join(d.target, 'etc', 'hostname'), 'pod\n');
    await writeFile(join(d.target, 'new-file'), 'x');
    await mkdir(join(d.target, 'var', 'log'), { recursive: true });

    expect(await readFile(join(lower, 'etc', 'hostname'), 'utf8')).toBe('image\n');
    expect((await readdir(lower)).sort()).toEqual(['bin', 'etc']);
    expect(await readFile(join(d.upper, 'etc', 'hostname'), 'utf8')).toBe('pod\n');
    expect(await readFile(join(d.upper, 'new-file'), 'utf8')).toBe('x');

    const { unmounted } = await unmountTree(join(root, 'pods', 'p1'));
    expect(unmounted).toEqual([d.target]);
    expect(await mountsUnder(root)).toEqual([]);
    // Unmounted: the target is an empty mount point again, and the pod's changes stay in its upper dir.
    expect(await readdir(d.target)).toEqual([]);
  });

  it('two pods of one image share the lower tree: same inode for an unmodified file', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const a = podDirs(root, 'a');
    const b = podDirs(root, 'b');
    await mountAppRootfs({ lower, ...a, mode: 'overlay' });
    await mountAppRootfs({ lower, ...b, mode: 'overlay' });
    const [sa, sb, sl] = await Promise.all([a.target, b.target, lower].map((t) => stat(join(t, 'bin', 'app'))));
    // overlayfs reports the lower file's own inode number for a file it has not copied up.
    expect(sa?.ino).toBe(sl?.ino);
    expect(sb?.ino).toBe(sl?.ino);
    // A write in pod a is invisible to pod b and to the image.
    await writeFile(join(a.target, 'bin', 'app'), 'changed');
    expect(await readFile(join(b.target, 'bin', 'app'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(await readFile(join(lower, 'bin', 'app'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    // Only pod a's upper dir got a copy; pod b still reads the shared lower file.
    expect(await readFile(join(a.upper, 'bin', 'app'), 'utf8')).toBe('changed');
    expect(await readdir(b.upper)).toEqual([]);
    await unmountTree(join(root, 'pods'));
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('refuses a missing lower tree, an unknown mode and an already mounted target, naming the path', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = podDirs(root, 'p');
    await expect(mountAppRootfs({ lower: join(root, 'nope'), ...d, mode: 'overlay' })).rejects.toMatchObject({
      code: 'ROOTFS_BAD_INPUT',
      message: `lower tree ${join(root, 'nope')} is not a directory`,
    });
    await expect(mountAppRootfs({ lower, ...d, mode: 'overlai' as 'overlay' })).rejects.toMatchObject({
      code: 'ROOTFS_BAD_INPUT',
      message: `unknown rootfs mode "overlai" for ${d.target} (expected overlay, copy, auto)`,
    });
    await mountAppRootfs({ lower, ...d, mode: 'overlay' });
    const again = mountAppRootfs({ lower, ...d, mode: 'overlay' });
    await expect(again).rejects.toBeInstanceOf(RootfsError);
    await expect(again).rejects.toThrow(`app rootfs target ${d.target} is already a mount point`);
    expect(await mountsUnder(root)).toHaveLength(1);
    // `fresh` is the caller's word that nothing is mounted there (a pod it made under a lock it still holds):
    // the mount table is not read, so the check above does not run.
    const other = podDirs(root, 'q');
    await mountAppRootfs({ lower, ...other, mode: 'overlay', fresh: true });
    await mountAppRootfs({ lower, ...other, upper: `${other.upper}2`, work: `${other.work}2`, mode: 'overlay', fresh: true });
    expect(await mountsUnder(root)).toHaveLength(3);
    // Nor are a fresh pod's paths made canonical: given through a symlink (a data dir on another disk), the
    // kernel resolves them, and the app's files are there at the real path.
    await symlink(root, `${root}-link`);
    try {
      const linked = podDirs(`${root}-link`, 'r');
      await mountAppRootfs({ lower: lower.replace(root, `${root}-link`), ...linked, mode: 'overlay', fresh: true });
      const real = podDirs(root, 'r').target;
      expect(await readFile(join(real, 'bin', 'app'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect((await mountsUnder(root)).map((m) => m.mountPoint)).toContain(real);
    } finally {
      await rm(`${root}-link`);
    }
    await unmountTree(root);
  });

  it('overlay mode fails with the kernel reason when the upper dir cannot host an overlay; auto copies', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    // An upper dir inside another overlay: overlayfs refuses overlay as an upper filesystem.
    const outer = podDirs(root, 'outer');
    await mountAppRootfs({ lower, ...outer, mode: 'overlay' });
    const inner = { target: join(outer.target, 'mnt'), upper: join(outer.target, 'u'), work: join(outer.target, 'w') };
    const err = await mountAppRootfs({ lower, ...inner, mode: 'overlay' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect((err as RootfsError).code).toBe('ROOTFS_MOUNT');
    expect((err as RootfsError).message).toContain(`cannot mount overlay of ${lower} at ${inner.target}: kernel: `);
    expect((err as RootfsError).message).toContain('not supported as upperdir');
    const said: string[] = [];
    const r = await mountAppRootfs({ lower, ...inner, mode: 'auto', debug: (m) => said.push(m) });
    expect(r.mode).toBe('copy');
    expect(said.join('\n')).toMatch(/overlay failed .*copying/);
    expect(await readFile(join(inner.target, 'etc', 'hostname'), 'utf8')).toBe('image\n');
    await unmountTree(root);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('auto mode without a data dir mounts an overlay where it works', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = podDirs(root, 'p');
    const said: string[] = [];
    expect(await mountAppRootfs({ lower, ...d, mode: 'auto', debug: (m) => said.push(m) })).toEqual({ mode: 'overlay', target: d.target });
    expect(said).toEqual([`rootfs: overlay at ${d.target}: lower ${lower}, upper ${d.upper}`]);
    await unmountTree(root);
  });

  it('a path with a double quote cannot go through mount(8): overlay mode says so, auto copies', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = { target: join(root, 'q', 'rootfs'), upper: join(root, 'q', 'up"per'), work: join(root, 'q', 'work') };
    await expect(mountAppRootfs({ lower, ...d, mode: 'overlay' })).rejects.toMatchObject({
      code: 'ROOTFS_BAD_INPUT',
      message: `upperdir ${JSON.stringify(d.upper)} contains a double quote, which mount(8) cannot pass in overlay options`,
    });
    const said: string[] = [];
    expect((await mountAppRootfs({ lower, ...d, mode: 'auto', debug: (m) => said.push(m) })).mode).toBe('copy');
    expect(said.join('\n')).toContain('contains a double quote');
    expect(await readFile(join(d.target, 'etc', 'hostname'), 'utf8')).toBe('image\n');
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('refuses upper and work dirs on different filesystems, naming both', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const other = join(root, 'other-fs');
    await mkdir(other);
    sh('mount', ['-t', 'tmpfs', 'x', other]);
    const d = { target: join(root, 'r'), upper: join(root, 'u'), work: join(other, 'w') };
    await expect(mountAppRootfs({ lower, ...d, mode: 'overlay' })).rejects.toMatchObject({
      code: 'ROOTFS_BAD_INPUT',
      message: `overlay upper ${d.upper} and work dir ${d.work} are on different filesystems; they must share one`,
    });
    await unmountTree(root);
  });

  it('eight pods of one image mount and unmount concurrently', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const pods = Array.from({ length: 8 }, (_, i) => podDirs(root, `p${i}`));
    const results = await Promise.all(pods.map((d) => mountAppRootfs({ lower, ...d, mode: 'auto', dataDir: root })));
    expect(results.map((r) => r.mode)).toEqual(Array(8).fill('overlay'));
    await Promise.all(pods.map((d, i) => writeFile(join(d.target, 'etc', 'hostname'), `pod ${i}\n`)));
    for (const [i, d] of pods.entries()) expect(await readFile(join(d.target, 'etc', 'hostname'), 'utf8')).toBe(`pod ${i}\n`);
    expect(await readFile(join(lower, 'etc', 'hostname'), 'utf8')).toBe('image\n');
    const done = await Promise.all(pods.map((_, i) => unmountTree(join(root, 'pods', `p${i}`))));
    expect(done.map((r) => r.unmounted.length)).toEqual(Array(8).fill(1));
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('refuses to reuse the upper or work dir of a mounted overlay (the kernel would only warn)', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = podDirs(root, 'p');
    await mountAppRootfs({ lower, ...d, mode: 'overlay' });
    const second = { ...d, target: join(root, 'second') };
    await expect(mountAppRootfs({ lower, ...second, mode: 'overlay' })).rejects.toMatchObject({
      code: 'ROOTFS_BAD_INPUT',
      message: `overlay dir ${d.upper} is already in use by the overlay mounted at ${d.target}`,
    });
    await expect(mountAppRootfs({ lower, ...second, upper: join(root, 'fresh'), mode: 'auto' })).rejects.toThrow(
      `overlay dir ${d.work} is already in use by the overlay mounted at ${d.target}`,
    );
    expect((await mountsUnder(root)).map((m) => m.mountPoint)).toEqual([d.target]);
    await unmountTree(root);
  });
});
