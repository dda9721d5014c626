// A pod in a user namespace (`rkt run --private-users`): its root filesystem shows the image's owners shifted
// into the pod's range, through an idmapped mount of the shared tree, which stays as it was rendered.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mountAppRootfs, mountsUnder, RootfsError, unmountTree } from '../src/index.js';
import { idmapBind, MNT_DETACH, umount } from '../src/sys.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const SHIFT = 0x80000;
const ids = { shift: SHIFT, count: 0x10000 };

/** Owners of every entry of a tree, by path relative to it. */
async function owners(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const s = await lstat(join(dir, name));
    out[name] = `${s.uid}:${s.gid}`;
  }
  return out;
}

async function makeLower(root: string): Promise<string> {
  const lower = join(root, 'tree', 'rootfs');
  await mkdir(join(lower, 'home', 'user'), { recursive: true });
  await writeFile(join(lower, 'home', 'user', 'file'), 'image\n');
  await chown(join(lower, 'home', 'user'), 1000, 1000);
  await chown(join(lower, 'home', 'user', 'file'), 4242, 4343);
  return lower;
}

function podDirs(root: string): { target: string; upper: string; work: string } {
  const base = join(root, 'pod', 'appsinfo', 'app');
  return { target: join(base, 'rootfs'), upper: join(base, 'overlay', 'upper'), work: join(base, 'overlay', 'work') };
}

// A process in a user namespace mapping 0..65535 to SHIFT.., as nspawn --private-users=SHIFT:65536 makes it.
const holders: ChildProcess[] = [];
afterEach(() => {
  for (const p of holders.splice(0)) p.kill('SIGKILL');
});
async function userNamespace(): Promise<number> {
  const p = spawn('unshare', ['--user', 'sleep', '60'], { stdio: 'ignore' });
  holders.push(p);
  const pid = p.pid!;
  // Until unshare has made its namespace (then its uid_map is empty, not the host's identity map).
  for (let i = 0; i < 200 && (await readFile(`/proc/${pid}/uid_map`, 'utf8')).trim() !== ''; i++) await new Promise((r) => setTimeout(r, 10));
  await writeFile(`/proc/${pid}/uid_map`, `0 ${SHIFT} 65536\n`);
  await writeFile(`/proc/${pid}/gid_map`, `0 ${SHIFT} 65536\n`);
  return pid;
}
const inNamespace = (pid: number, script: string): string => sh('nsenter', ['-t', String(pid), '-U', 'sh', '-c', script]);

describe('idmapBind', () => {
  it("shows a tree's owners shifted, leaving the tree itself as it was", async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const before = await owners(lower);
    const at = join(root, 'shifted');
    await mkdir(at);
    idmapBind(lower, at, SHIFT, 0x10000);
    try {
      expect(await owners(at)).toEqual({ home: `${SHIFT}:${SHIFT}`, 'home/user': `${SHIFT + 1000}:${SHIFT + 1000}`, 'home/user/file': `${SHIFT + 4242}:${SHIFT + 4343}` });
      expect(await readFile(join(at, 'home', 'user', 'file'), 'utf8')).toBe('image\n');
    } finally {
      umount(at, MNT_DETACH);
    }
    expect(await owners(lower)).toEqual(before);
  });

  it('throws the errno as code for a file system without idmapped mounts (overlayfs)', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const d = podDirs(root);
    await mountAppRootfs({ lower, ...d, mode: 'overlay' });
    const at = join(root, 'shifted');
    await mkdir(at);
    expect(() => idmapBind(d.target, at, SHIFT, 0x10000)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mount_setattr' }));
    await unmountTree(join(root, 'pod'));
    expect(await mountsUnder(root)).toEqual([]);
  });
});

describe('mountAppRootfs with idmap', () => {
  it("overlay: the pod's namespace sees the image's owners and its own writes as its root's; the shared tree is untouched", async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const before = await owners(lower);
    const d = podDirs(root);
    expect(await mountAppRootfs({ lower, ...d, mode: 'overlay', idmap: ids })).toEqual({ mode: 'overlay', target: d.target });
    // Only the overlay: the idmapped mount of the lower is detached once the overlay holds it.
    expect((await mountsUnder(root)).map((m) => [m.mountPoint, m.fsType])).toEqual([[d.target, 'overlay']]);
    expect(await readdir(join(root, 'pod', 'appsinfo', 'app', 'overlay'))).toEqual(['upper', 'work']);
    // From the host: shifted.
    expect((await owners(d.target))['home/user/file']).toBe(`${SHIFT + 4242}:${SHIFT + 4343}`);

    try {
      // The temp dir is the host root's 0700: the pod's root (the host's SHIFT) must pass through it.
      await chmod(root, 0o755);
      const pid = await userNamespace();
      const seen = inNamespace(pid, `cd ${d.target} && echo pod >> home/user/file && touch new && stat -c '%n %u:%g' . home/user home/user/file new`);
      expect(seen).toBe('. 0:0\nhome/user 1000:1000\nhome/user/file 4242:4343\nnew 0:0\n');
      // What the pod wrote is stored in its upper directory with the host's shifted IDs.
      expect(await owners(d.upper)).toMatchObject({ new: `${SHIFT}:${SHIFT}`, 'home/user/file': `${SHIFT + 4242}:${SHIFT + 4343}` });
      expect(await owners(lower)).toEqual(before);
      expect(await readFile(join(lower, 'home', 'user', 'file'), 'utf8')).toBe('image\n');
    } finally {
      await unmountTree(join(root, 'pod'));
    }
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('copy (--no-overlay): the copy has the shifted owners, the shared tree its own', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const before = await owners(lower);
    const d = podDirs(root);
    expect(await mountAppRootfs({ lower, ...d, mode: 'copy', idmap: ids })).toEqual({ mode: 'copy', target: d.target });
    expect(await mountsUnder(root)).toEqual([]);
    expect(await owners(d.target)).toEqual({ home: `${SHIFT}:${SHIFT}`, 'home/user': `${SHIFT + 1000}:${SHIFT + 1000}`, 'home/user/file': `${SHIFT + 4242}:${SHIFT + 4343}` });
    expect(await owners(lower)).toEqual(before);
  });

  it('a lower on a file system without idmapped mounts fails in one line, leaving nothing mounted', async () => {
    const root = await tmp.make();
    const lower = await makeLower(root);
    const first = podDirs(root);
    await mountAppRootfs({ lower, ...first, mode: 'overlay' });
    const d = { target: join(root, 'other', 'rootfs'), upper: join(root, 'other', 'upper'), work: join(root, 'other', 'work') };
    const err = await mountAppRootfs({ lower: first.target, ...d, mode: 'overlay', idmap: ids }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect((err as RootfsError).code).toBe('ROOTFS_MOUNT');
    expect((err as RootfsError).message).toBe(
      `cannot mount ${first.target} with its owners shifted by ${SHIFT} (an idmapped mount) for a pod in a user namespace: mount_setattr ${join(root, 'other', 'work-lower')}: Invalid argument`,
    );
    expect((await mountsUnder(root)).map((m) => m.mountPoint)).toEqual([first.target]);
    await unmountTree(join(root, 'pod'));
  });
});
