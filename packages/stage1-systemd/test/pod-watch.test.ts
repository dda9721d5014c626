// The watcher that ends a pod whose runner died: told `done`, it leaves the pod's processes alone and lets
// go of the lock it shares. (Its other half, a kill -9 of rkt run, runs real pods in
// integration-tests/systemd/run.test.ts.)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLocked, tryLockDir, unlock } from '@rkt/controller';
import { watchPodOwner } from '../src/pod-watch.js';

let dir: string;
let supervisor: ChildProcess | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stage1-systemd-watch-'));
});
afterEach(() => {
  // The stand-in's child first: it would outlive its parent.
  for (const pid of supervisor !== undefined ? children(supervisor.pid as number) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  supervisor?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A stand-in for nspawn with a child, as nspawn's is the pod's PID 1. */
async function fakeNspawn(): Promise<{ pid: number; init: number }> {
  supervisor = spawn('/bin/sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
  const pid = supervisor.pid as number;
  for (let i = 0; i < 200 && children(pid).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const [init] = children(pid);
  if (init === undefined) throw new Error('the stand-in for nspawn started no child');
  return { pid, init };
}

describe('watchPodOwner', () => {
  it('told the pod ended, exits without touching the pod, and lets go of the lock it held', async () => {
    const { pid, init } = await fakeNspawn();
    const fd = tryLockDir(dir);
    if (fd === undefined) throw new Error('cannot lock the test directory');
    // spawn returns once the watcher runs: its copy of the handle keeps the pod locked without the runner's.
    const watch = watchPodOwner(pid, fd);
    unlock(fd);
    expect(isLocked(dir)).toBe(true);
    watch.podEnded();
    await watch.exited;
    expect(isLocked(dir)).toBe(false);
    expect(children(pid)).toEqual([init]);
  });
});
