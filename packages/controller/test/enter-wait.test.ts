// rkt enter of a pod that is still starting: its runner has moved it into run/ and holds its lock, but its
// stage1 has not named its first process yet. rkt's enter waited for it (ContainerPid1); so does this one.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enterPod } from '../src/enter.js';
import { tryLockDir, unlock } from '../src/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rkt-enter-wait-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const UUID = '6a1b2c3d-0000-4000-8000-0000000000e1';
const ID = `sha512-${'a'.repeat(128)}`;

/** A running pod (locked, as its runner holds it) with no pid yet, whose stage1's enter records its arguments. */
function startingPod(marker: string): { dataDir: string; pod: string; lock: number } {
  const dataDir = join(dir, 'data');
  const pod = join(dataDir, 'pods', 'run', UUID);
  mkdirSync(join(pod, 'stage1', 'rootfs', 's1'), { recursive: true });
  const annotations = [
    { name: 'coreos.com/rkt/stage1/run', value: '/s1/run' },
    { name: 'coreos.com/rkt/stage1/enter', value: '/s1/enter' },
  ];
  writeFileSync(join(pod, 'stage1', 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/stage1', annotations }));
  writeFileSync(join(pod, 'stage1', 'rootfs', 's1', 'enter'), `#!/bin/sh\necho "$@" > ${marker}\n`, { mode: 0o755 });
  const app = { name: 'a', imageId: ID, imageName: 'example.com/a', treeId: 'deps-x', lower: '/nonexistent' };
  const info = { formatVersion: 1, uuid: UUID, createdAt: new Date().toISOString(), stage1: { imageId: ID, imageName: 'example.com/stage1', treeId: 'deps-y' }, apps: [app], rootfsMode: 'auto', inheritEnv: false };
  writeFileSync(join(pod, 'pod-info.json'), JSON.stringify(info));
  const lock = tryLockDir(pod);
  if (lock === undefined) throw new Error('cannot lock the test pod');
  return { dataDir, pod, lock };
}

describe('rkt enter of a starting pod', () => {
  it('waits for its pid while it runs, then enters with it', async () => {
    const marker = join(dir, 'enter-args');
    const { dataDir, pod, lock } = startingPod(marker);
    const started = setTimeout(() => writeFileSync(join(pod, 'pid'), `${process.pid}\n`), 150);
    try {
      expect(await enterPod({ dataDir, uuid: UUID, cmd: ['/bin/true'] })).toBe(0);
    } finally {
      clearTimeout(started);
      unlock(lock);
    }
    expect(readFileSync(marker, 'utf8')).toBe(`--pid=${process.pid} --appname=a -- /bin/true\n`);
  });

  it('says the pod is not running when it stops before naming a pid, and enters nothing', async () => {
    const marker = join(dir, 'enter-args');
    const { dataDir, lock } = startingPod(marker);
    // Its start failed: the runner let go of the lock without a stage1 ever writing a pid.
    const ended = setTimeout(() => unlock(lock), 150);
    try {
      await expect(enterPod({ dataDir, uuid: UUID, cmd: ['/bin/true'] })).rejects.toMatchObject({
        code: 'POD_STATE',
        message: `pod ${UUID} isn't currently running (it stopped while starting)`,
      });
    } finally {
      clearTimeout(ended);
    }
    expect(existsSync(marker)).toBe(false);
  });
});
