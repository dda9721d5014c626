import { chmod, chown, link, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, RootfsError } from '../src/index.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const CAP_NET_RAW_EP = '0x0100000200200000000000000000000000000000';

async function richLower(root: string): Promise<string> {
  const lower = join(root, 'lower');
  await mkdir(join(lower, 'bin'), { recursive: true });
  await mkdir(join(lower, 'dev'));
  await mkdir(join(lower, 'home', 'user'), { recursive: true });
  await writeFile(join(lower, 'bin', 'su'), 'setuid program');
  await chmod(join(lower, 'bin', 'su'), 0o4755);
  await writeFile(join(lower, 'home', 'user', 'notes'), 'mine');
  await chown(join(lower, 'home', 'user', 'notes'), 1234, 5678);
  await chown(join(lower, 'home', 'user'), 1234, 5678);
  await chmod(join(lower, 'home', 'user'), 0o700);
  await symlink('/bin/su', join(lower, 'bin', 'abs-link'));
  await symlink('../home', join(lower, 'bin', 'rel-link'));
  sh('mknod', ['-m', '0666', join(lower, 'dev', 'null'), 'c', '1', '3']);
  sh('mkfifo', [join(lower, 'dev', 'fifo')]);
  await writeFile(join(lower, 'bin', 'busybox'), 'multi-call');
  await link(join(lower, 'bin', 'busybox'), join(lower, 'bin', 'sh'));
  sh('setfattr', ['-n', 'user.rkt', '-v', 'kept', join(lower, 'bin', 'busybox')]);
  await writeFile(join(lower, 'bin', 'ping'), 'needs a capability');
  // cap_net_raw=ep as the kernel stores it (vfs_cap_data v2: magic|effective, permitted bit 13, ...),
  // written with setfattr so the test needs no libcap tools.
  sh('setfattr', ['-n', 'security.capability', '-v', CAP_NET_RAW_EP, join(lower, 'bin', 'ping')]);
  return lower;
}

describe('copy mode', () => {
  it('gives an independent tree keeping modes, owners, symlinks, devices, fifos, xattrs, capabilities and hard links', async () => {
    const root = await tmp.make();
    const lower = await richLower(root);
    const target = join(root, 'pod', 'rootfs');
    const said: string[] = [];
    const r = await mountAppRootfs({ lower, target, upper: join(root, 'pod', 'upper'), work: join(root, 'pod', 'work'), mode: 'copy', debug: (m) => said.push(m) });
    expect(r).toEqual({ mode: 'copy', target });
    expect(said.join('\n')).toContain('copying');
    expect(await mountsUnder(root)).toEqual([]);

    expect((await stat(join(target, 'bin', 'su'))).mode & 0o7777).toBe(0o4755);
    const notes = await stat(join(target, 'home', 'user', 'notes'));
    expect([notes.uid, notes.gid]).toEqual([1234, 5678]);
    const home = await stat(join(target, 'home', 'user'));
    expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1234, 5678, 0o700]);
    expect(await readlink(join(target, 'bin', 'abs-link'))).toBe('/bin/su');
    expect(await readlink(join(target, 'bin', 'rel-link'))).toBe('../home');
    const dev = await lstat(join(target, 'dev', 'null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect([dev.rdev >> 8, dev.rdev & 0xff, dev.mode & 0o777]).toEqual([1, 3, 0o666]);
    expect((await lstat(join(target, 'dev', 'fifo'))).isFIFO()).toBe(true);
    expect(sh('getfattr', ['--only-values', '-n', 'user.rkt', join(target, 'bin', 'busybox')])).toBe('kept');
    // File capabilities are an xattr too (security.capability); losing them breaks ping-like programs.
    expect(sh('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', join(target, 'bin', 'ping')])).toContain(`security.capability=${CAP_NET_RAW_EP}\n`);

    // Hard links inside the tree stay links to each other, but never to the shared lower tree.
    const [bb, shl, lowerBb] = await Promise.all([stat(join(target, 'bin', 'busybox')), stat(join(target, 'bin', 'sh')), stat(join(lower, 'bin', 'busybox'))]);
    expect(bb.ino).toBe(shl.ino);
    expect(bb.nlink).toBe(2);
    expect(bb.ino).not.toBe(lowerBb.ino);

    // Independent: changing the copy leaves the image alone.
    await writeFile(join(target, 'bin', 'sh'), 'patched');
    expect(await readFile(join(lower, 'bin', 'busybox'), 'utf8')).toBe('multi-call');
    expect(await readFile(join(target, 'bin', 'busybox'), 'utf8')).toBe('patched');
    // No temporary copy is left beside the target.
    expect(await readdir(join(root, 'pod'))).toEqual(['rootfs']);
  });

  it('copies into an empty prepared mount point, and refuses a target that is not empty', async () => {
    const root = await tmp.make();
    const lower = await richLower(root);
    const target = join(root, 'rootfs');
    await mkdir(target);
    await mountAppRootfs({ lower, target, upper: join(root, 'u'), work: join(root, 'w'), mode: 'copy' });
    expect((await readdir(target)).sort()).toEqual(['bin', 'dev', 'home']);
    const again = await mountAppRootfs({ lower, target, upper: join(root, 'u'), work: join(root, 'w'), mode: 'copy' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(RootfsError);
    expect(again).toMatchObject({ code: 'ROOTFS_BAD_INPUT', message: `copy target ${target} is not empty`, path: target });
  });

  it('a failed copy names the tree and leaves no partial copy behind', async () => {
    const root = await tmp.make();
    const lower = await richLower(root);
    // The target's parent is a file, so cp cannot create the copy.
    await writeFile(join(root, 'file'), '');
    const target = join(root, 'file', 'rootfs');
    const err = await mountAppRootfs({ lower, target, upper: join(root, 'u'), work: join(root, 'w'), mode: 'copy' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect((err as RootfsError).code).toMatch(/^ROOTFS_(COPY|BAD_INPUT)$/);
    expect((err as RootfsError).message).toContain(target);
    expect((await readdir(root)).sort()).toEqual(['file', 'lower']);
  });
});
