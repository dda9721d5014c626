// The watcher that ends a pod whose runner died: told `done`, it leaves the pod's processes alone and lets
// go of the lock it shares; left without it, it ends the pod even while nspawn's children are changing.
// (A kill -9 of rkt run with real pods is in integration-tests/systemd/run.test.ts.)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLocked, tryLockDir, unlock } from '@rkt/controller';
import { POD_WATCH_SCRIPT, watchPodOwner } from '../src/pod-watch.js';

let dir: string;
let supervisor: ChildProcess | undefined;
const strays: number[] = [];
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
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already, as it should be.
    }
  }
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
    const watch = watchPodOwner('rkt-pod-watch-test-none', fd);
    watch.watch(pid);
    unlock(fd);
    expect(isLocked(dir)).toBe(true);
    watch.podEnded();
    await watch.exited;
    expect(isLocked(dir)).toBe(false);
    expect(children(pid)).toEqual([init]);
  });
});

/**
 * nspawn's own way of starting a pod, in Python (a subreaper needs prctl): a child forks the pod's PID 1 and
 * stays `window` seconds before it exits, PID 1 is then re-parented to this process, which waits for it as
 * nspawn waits for PID 1. Prints PID 1's pid.
 */
const NSPAWN_LIKE = `
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as nspawn sets it
if os.fork() == 0:
    init = os.fork()
    if init == 0:
        os.execv('/bin/sleep', ['sleep', '30'])
    print(init, flush=True)
    time.sleep(float(sys.argv[1]))
    os._exit(0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
`;

function alive(pid: number): boolean {
  try {
    // A zombie is as dead as the pod needs: only its parent's wait is left.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('the watcher script', () => {
  it('told nspawn did not start, exits and kills nothing', async () => {
    const { pid, init } = await fakeNspawn();
    const watcher = spawn('/bin/sh', ['-c', POD_WATCH_SCRIPT, 'rkt-pod-watch', 'rkt-pod-watch-test-none'], { stdio: ['pipe', 'ignore', 'inherit'] });
    const watcherExit = new Promise<number | null>((resolve) => watcher.once('exit', resolve));
    watcher.stdin!.end('done\n');
    expect(await watcherExit).toBe(0);
    expect(children(pid)).toEqual([init]);
  });

  it.skipIf(spawnSync('python3', ['-c', '0']).status !== 0)(
    'left before it was told anything, finds an nspawn started meanwhile by its --machine= and ends its pod',
    async () => {
      // The runner died inside the posix_spawn of nspawn: nspawn runs, and nobody told the watcher its pid.
      const machine = `rkt-pod-watch-test-${process.pid}-${Date.now()}`;
      const nspawn = spawn('python3', ['-c', NSPAWN_LIKE, '1.5', `--machine=${machine}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      supervisor = nspawn;
      const init = Number((await new Promise<string>((resolve) => nspawn.stdout!.once('data', (b: Buffer) => resolve(b.toString())))).trim());
      strays.push(init);
      const watcher = spawn('/bin/sh', ['-c', POD_WATCH_SCRIPT, 'rkt-pod-watch', machine], { stdio: ['pipe', 'ignore', 'inherit'] });
      const watcherExit = new Promise<number | null>((resolve) => watcher.once('exit', resolve));
      watcher.stdin!.end();
      expect(await watcherExit).toBe(0);
      expect(alive(init)).toBe(false);
      expect(nspawn.exitCode ?? (await new Promise((resolve) => nspawn.once('exit', resolve)))).toBe(0);
    },
    20_000,
  );

  it.skipIf(spawnSync('python3', ['-c', '0']).status !== 0)(
    "left without `done` while nspawn's first child is still there, kills the pod's PID 1 it cloned, and exits once nspawn has",
    async () => {
      const nspawn = spawn('python3', ['-c', NSPAWN_LIKE, '1.5'], { stdio: ['ignore', 'pipe', 'inherit'] });
      supervisor = nspawn;
      const line = await new Promise<string>((resolve) => nspawn.stdout!.once('data', (b: Buffer) => resolve(b.toString())));
      const init = Number(line.trim());
      strays.push(init);
      // PID 1 runs, as the child of nspawn's first child, which nspawn still has.
      expect(alive(init)).toBe(true);
      expect(children(nspawn.pid as number)).not.toContain(init);
      const watcher = spawn('/bin/sh', ['-c', POD_WATCH_SCRIPT, 'rkt-pod-watch', 'rkt-pod-watch-test-none'], { stdio: ['pipe', 'ignore', 'inherit'] });
      const watcherExit = new Promise<number | null>((resolve) => watcher.once('exit', resolve));
      // Told nspawn's pid, then the runner dies: end of file, no `done`.
      watcher.stdin!.end(`${nspawn.pid}\n`);
      expect(await watcherExit).toBe(0);
      expect(alive(init)).toBe(false);
      expect(nspawn.exitCode ?? (await new Promise((resolve) => nspawn.once('exit', resolve)))).toBe(0);
    },
    20_000,
  );
});
