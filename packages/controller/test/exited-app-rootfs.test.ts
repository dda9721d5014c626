// openExitedAppRootfs on pod directories laid out as stage0 leaves them, with real overlays and tmpfs: the
// app's root as it left it (written files there, deleted ones and whiteouts not, volumes not), however the
// pod left it, and nothing mounted on the host by the reading.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmountTree } from '@rkt/rootfs-overlay';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openExitedAppRootfs } from '../src/exited-app-rootfs.js';
import { isLocked, tryLockDir, unlock } from '../src/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-export-rootfs-'));
});
afterEach(async () => {
  const left = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));
  await unmountTree(dir, { lazy: true }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
  expect(left, 'mounts left behind by the test').toEqual([]);
});

const UUID = '6a1b2c3d-0000-4000-8000-0000000000e2';
const ID = `sha512-${'a'.repeat(128)}`;
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** An exited pod of the given apps: the image tree is `lower/` (with etc/gone and etc/kept), the app wrote out.txt and deleted etc/gone. */
function exitedPod(apps: string[], rootfsMode: 'auto' | 'copy'): { dataDir: string; pod: string; lower: string } {
  const dataDir = join(dir, 'data');
  const lower = join(dir, 'tree', 'rootfs');
  mkdirSync(join(lower, 'etc'), { recursive: true });
  writeFileSync(join(lower, 'etc', 'gone'), 'deleted by the app\n');
  writeFileSync(join(lower, 'etc', 'kept'), 'from the image\n');
  const pod = join(dataDir, 'pods', 'run', UUID);
  for (const name of apps) {
    mkdirSync(join(pod, 'appsinfo', name, 'rootfs'), { recursive: true });
    const upper = join(pod, 'appsinfo', name, 'overlay', 'upper');
    mkdirSync(join(upper, 'etc'), { recursive: true });
    mkdirSync(join(pod, 'appsinfo', name, 'overlay', 'work'));
    writeFileSync(join(pod, 'appsinfo', name, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/${name}` }));
    if (rootfsMode === 'auto') {
      writeFileSync(join(upper, 'out.txt'), `written by ${name}\n`);
      sh('mknod', [join(upper, 'etc', 'gone'), 'c', '0', '0']);
    } else {
      sh('cp', ['-a', '-T', lower, join(pod, 'appsinfo', name, 'rootfs')]);
      writeFileSync(join(pod, 'appsinfo', name, 'rootfs', 'out.txt'), `written by ${name}\n`);
      rmSync(join(pod, 'appsinfo', name, 'rootfs', 'etc', 'gone'));
    }
  }
  const info = {
    formatVersion: 1,
    uuid: UUID,
    createdAt: new Date().toISOString(),
    stage1: { imageId: ID, imageName: 'example.com/stage1', treeId: 'deps-y' },
    apps: apps.map((name) => ({ name, imageId: ID, imageName: `example.com/${name}`, treeId: 'deps-x', lower })),
    rootfsMode,
    inheritEnv: false,
  };
  writeFileSync(join(pod, 'pod-info.json'), JSON.stringify(info));
  return { dataDir, pod, lower };
}

/** Every path under a directory, sorted, directories with a trailing slash. */
function tree(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    return e.isDirectory() ? [`${p}/`, ...tree(root, p)] : [p];
  }).sort();
}

async function expectAppView(dataDir: string, uuid: string, app?: string): Promise<void> {
  const view = await openExitedAppRootfs({ dataDir, uuid, ...(app !== undefined ? { app } : {}) });
  try {
    expect(tree(view.rootfs)).toEqual(['etc/', 'etc/kept', 'out.txt']);
    expect(readFileSync(join(view.rootfs, 'out.txt'), 'utf8')).toBe(`written by ${view.app}\n`);
    expect(readFileSync(join(view.rootfs, 'etc', 'kept'), 'utf8')).toBe('from the image\n');
    expect(view.imageManifest.toString()).toContain(`"example.com/${view.app}"`);
    // The view is the helper's: the host sees no mount of it.
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir))).toEqual([]);
  } finally {
    await view.close();
  }
}

describe('openExitedAppRootfs', () => {
  it('merges an overlay pod that is no longer mounted (upper over the tree), by UUID prefix; then one gc marked', async () => {
    const { dataDir, pod } = exitedPod(['busybox'], 'auto');
    await expectAppView(dataDir, UUID.slice(0, 8));
    mkdirSync(join(dataDir, 'pods', 'exited-garbage'));
    renameSync(pod, join(dataDir, 'pods', 'exited-garbage', UUID));
    await expectAppView(dataDir, UUID);
  });

  it('keeps gc and rm off the pod while it is read (no exclusive lock can be taken), its state still exited', async () => {
    const { dataDir, pod } = exitedPod(['busybox'], 'auto');
    const view = await openExitedAppRootfs({ dataDir, uuid: UUID });
    try {
      expect(tryLockDir(pod, 0)).toBeUndefined();
      expect(isLocked(pod)).toBe(false);
    } finally {
      await view.close();
    }
    const lock = tryLockDir(pod, 0);
    expect(lock).toBeTypeOf('number');
    unlock(lock as number);
  });

  it("reads a pod's overlay still mounted, without the volume mounted in it", async () => {
    const { dataDir, pod, lower } = exitedPod(['busybox'], 'auto');
    const rootfs = join(pod, 'appsinfo', 'busybox', 'rootfs');
    const o = join(pod, 'appsinfo', 'busybox', 'overlay');
    sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${o}/upper,workdir=${o}/work`, rootfs]);
    mkdirSync(join(rootfs, 'vol'));
    sh('mount', ['-t', 'tmpfs', 'tmpfs', join(rootfs, 'vol')]);
    writeFileSync(join(rootfs, 'vol', 'host-data'), '');
    const view = await openExitedAppRootfs({ dataDir, uuid: UUID });
    try {
      expect(tree(view.rootfs)).toEqual(['etc/', 'etc/kept', 'out.txt', 'vol/']);
    } finally {
      await view.close();
      await unmountTree(pod); // the test's own mounts, as gc would
    }
  });

  it('reads a copied root (--no-overlay) without the volume mounted in it', async () => {
    const { dataDir, pod } = exitedPod(['busybox'], 'copy');
    const rootfs = join(pod, 'appsinfo', 'busybox', 'rootfs');
    mkdirSync(join(rootfs, 'vol'));
    sh('mount', ['-t', 'tmpfs', 'tmpfs', join(rootfs, 'vol')]);
    writeFileSync(join(rootfs, 'vol', 'host-data'), '');
    const view = await openExitedAppRootfs({ dataDir, uuid: UUID });
    try {
      expect(tree(view.rootfs)).toEqual(['etc/', 'etc/kept', 'out.txt', 'vol/']);
    } finally {
      await view.close();
      await unmountTree(pod); // the test's own mounts, as gc would
    }
  });

  it('needs --app for a pod of several apps, and refuses one the pod does not have, naming its apps', async () => {
    const { dataDir } = exitedPod(['first', 'second'], 'auto');
    await expect(openExitedAppRootfs({ dataDir, uuid: UUID })).rejects.toThrow(
      `pod ${UUID} contains multiple apps (first, second): unable to determine app name: specify app using "rkt export --app= ..."`,
    );
    await expect(openExitedAppRootfs({ dataDir, uuid: UUID, app: 'third' })).rejects.toThrow(`app "third" is not in pod ${UUID} (apps: first, second)`);
    await expectAppView(dataDir, UUID, 'second');
  });

  it('refuses a pod that is not exited, naming it and its state', async () => {
    const { dataDir, pod } = exitedPod(['busybox'], 'auto');
    const lock = tryLockDir(pod);
    if (lock === undefined) throw new Error('cannot lock the test pod');
    try {
      await expect(openExitedAppRootfs({ dataDir, uuid: UUID })).rejects.toMatchObject({
        code: 'POD_STATE',
        message: `pod ${UUID} is not exited (it is running): only an exited pod can be exported`,
      });
    } finally {
      unlock(lock);
    }
    mkdirSync(join(dataDir, 'pods', 'prepared'));
    renameSync(pod, join(dataDir, 'pods', 'prepared', UUID));
    await expect(openExitedAppRootfs({ dataDir, uuid: UUID })).rejects.toThrow(`pod ${UUID} is not exited (it is prepared)`);
    expect(existsSync(join(dataDir, 'pods', 'prepared', UUID))).toBe(true);
  });
});
