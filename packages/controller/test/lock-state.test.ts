import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findPod, isLocked, POD_FORMAT_VERSION, listPods, PodError, readPodInfo, tryLockDir, unlock, waitUnlocked } from '../src/index.js';
import { lockDirAt } from '../src/lock.js';
import { heldByPod, markRemoving } from '../src/removing-mark.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'controller-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const U1 = '11111111-2222-4333-8444-555555555555';
const U2 = '11111111-9999-4333-8444-555555555555';

function pod(state: string, uuid: string): string {
  const p = join(dir, 'pods', state, uuid);
  mkdirSync(p, { recursive: true });
  return p;
}

describe('pod locks', () => {
  it('a lock is seen by a check that takes it shared for an instant, held by a child given the handle, and gone when the holder dies', async () => {
    const p = pod('run', U1);
    expect(isLocked(p)).toBe(false);
    const fd = tryLockDir(p)!;
    expect(fd).toBeTypeOf('number');
    expect(isLocked(p)).toBe(true);
    expect(tryLockDir(p)).toBeUndefined();
    // Hand the lock to a child (as stage0 hands it to stage1), then let our copy go.
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
    await new Promise((r) => child.once('spawn', r));
    unlock(fd);
    expect(isLocked(p)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(isLocked(p)).toBe(false);
    const again = tryLockDir(p);
    expect(again).toBeTypeOf('number');
    unlock(again!);
    // A check leaves no lock behind, and a gone directory is undefined.
    expect(isLocked(p)).toBe(false);
    expect(isLocked(join(dir, 'pods', 'run', U2))).toBeUndefined();
  });

  it('a holder waits out the instants in which checks hold the lock; gc, with no patience, may not get it then', async () => {
    const p = pod('prepared', U1);
    // Another process checking the pod's lock as fast as it can (`rkt status --wait` polls, many `rkt list`s).
    const addon = join(fileURLToPath(new URL('../../rootfs-overlay/dist/sys.node', import.meta.url)));
    const checker = spawn(
      process.execPath,
      [
        '-e',
        `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)});
         const fs = require('fs');
         process.stdout.write('ready\\n');
         for (;;) { const fd = fs.openSync(${JSON.stringify(p)}, 'r'); m.exports.flock(fd, false, true); fs.closeSync(fd); }`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((r) => checker.stdout!.once('data', r));
      let busyWithoutPatience = 0;
      // At least 300 rounds, and on until a check was caught holding the lock (a loaded machine can keep the
      // checker off the CPU through 300 of them: CI saw it once), within 10 s.
      const until = Date.now() + 10_000;
      for (let i = 0; i < 300 || (busyWithoutPatience === 0 && Date.now() < until); i++) {
        const fd = tryLockDir(p);
        expect(fd, `attempt ${i}`).toBeTypeOf('number');
        unlock(fd!);
        const quick = tryLockDir(p, 0);
        if (quick === undefined) busyWithoutPatience++;
        else unlock(quick);
      }
      // The checks did hold the lock at times: without patience some attempts found it busy.
      expect(busyWithoutPatience).toBeGreaterThan(0);
    } finally {
      checker.kill('SIGKILL');
      await new Promise((r) => checker.once('exit', r));
    }
  });

  it('a lock waited for is the lock of the directory still there: one deleted or moved meanwhile is gone, not locked', async () => {
    // Another remover holds the pod's lock, deletes (or moves) the directory and lets go; this one was waiting
    // with the directory open. It got the deleted directory's lock and went on removing it, as if it had.
    for (const [how, undo] of [
      ['deleted', (p: string) => `rm -rf '${p}'`],
      ['moved', (p: string) => `mv '${p}' '${p}.moved'`],
    ] as const) {
      const p = pod('garbage', U1);
      const fd = tryLockDir(p)!;
      const holder = spawn('sh', ['-c', `sleep 0.3; ${undo(p)}`], { stdio: ['ignore', 'ignore', 'inherit', fd] });
      await new Promise((r) => holder.once('spawn', r));
      unlock(fd);
      try {
        // Synchronous: the holder runs meanwhile, and its exit lets the lock go.
        expect(lockDirAt(p, 10_000), how).toBe('gone');
        expect(tryLockDir(p), how).toBeUndefined();
      } finally {
        holder.kill('SIGKILL');
      }
      rmSync(`${p}.moved`, { recursive: true, force: true });
    }
  });

  it("a wait for the lock's release ends as its holder lets go, times out while it holds on, and leaves no lock or process", async () => {
    const p = pod('run', U1);
    expect(await waitUnlocked(join(dir, 'pods', 'run', U2), 1000)).toBe('gone');
    // Not held: released at once.
    expect(await waitUnlocked(p, 1000)).toBe('released');
    // A holder (a child given the handle, as a pod's stage1) that lets go after 300 ms, by exiting.
    const fd = tryLockDir(p)!;
    const holder = spawn('sleep', ['0.3'], { stdio: ['ignore', 'ignore', 'inherit', fd] });
    await new Promise((r) => holder.once('spawn', r));
    unlock(fd);
    const exited = new Promise<number>((r) => holder.once('exit', () => r(Date.now())));
    try {
      const started = Date.now();
      expect(await waitUnlocked(p, 200)).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(await waitUnlocked(p, 10_000)).toBe('released');
      const released = Date.now();
      expect(released).toBeGreaterThanOrEqual(await exited);
    } finally {
      holder.kill('SIGKILL');
    }
    // The waiter's shared lock went with it: a holder gets the lock at once.
    const again = tryLockDir(p, 0);
    expect(again).toBeDefined();
    unlock(again!);
  });
});

describe('pod states', () => {
  it("derive from the state directory and the lock, as rkt's", () => {
    pod('prepared', U1);
    const running = pod('run', U2);
    expect(listPods(dir).map((p) => [p.uuid, p.state]).sort()).toEqual([
      [U1, 'prepared'],
      [U2, 'exited'],
    ]);
    const fd = tryLockDir(running)!;
    try {
      expect(findPod(dir, U2).state).toBe('running');
    } finally {
      unlock(fd);
    }
    pod('prepare', '22222222-2222-4333-8444-555555555555');
    expect(findPod(dir, '2222').state).toBe('aborted prepare');
  });

  it("read an exited pod or an aborted prepare as such while an rm or gc that marked it holds its lock", () => {
    const exited = pod('run', U1);
    const aborted = pod('prepare', U2);
    for (const p of [exited, aborted]) markRemoving(p, 'x');
    const fds = [tryLockDir(exited)!, tryLockDir(aborted)!];
    try {
      expect(listPods(dir).map((p) => [p.uuid, p.state]).sort()).toEqual([
        [U1, 'exited'],
        [U2, 'aborted prepare'],
      ]);
    } finally {
      fds.forEach(unlock);
    }
    // Gone meanwhile: the marker's absence says nothing then.
    expect(heldByPod('run', join(dir, 'pods', 'run', '11111111-0000-4333-8444-555555555555'))).toBeUndefined();
    expect(() => markRemoving(join(dir, 'pods', 'run', 'gone'), 'gone')).toThrow(expect.objectContaining({ code: 'POD_STATE' }));
  });

  it('find a pod by a unique prefix and refuse ambiguous, unknown or malformed ones', () => {
    pod('prepared', U1);
    pod('run', U2);
    expect(findPod(dir, '11111111-9').uuid).toBe(U2);
    expect(() => findPod(dir, '1111')).toThrow(expect.objectContaining({ code: 'POD_AMBIGUOUS' }));
    expect(() => findPod(dir, 'abc')).toThrow(expect.objectContaining({ code: 'POD_NOT_FOUND', message: 'no pod matches "abc"' }));
    expect(() => findPod(dir, '../x')).toThrow(PodError);
  });
});

describe('pod format version', () => {
  it('refuses a pod directory written by a newer rkt-ts, naming the file', async () => {
    const p = pod('prepared', U1);
    writeFileSync(join(p, 'pod-info.json'), JSON.stringify({ formatVersion: POD_FORMAT_VERSION + 1 }));
    await expect(readPodInfo(p)).rejects.toMatchObject({ code: 'POD_VERSION', message: expect.stringContaining(join(p, 'pod-info.json')) });
    writeFileSync(join(p, 'pod-info.json'), JSON.stringify({ formatVersion: 1, uuid: U1 }));
    await expect(readPodInfo(p)).rejects.toMatchObject({ code: 'POD_FORMAT' });
  });
});

describe('gc of debris', () => {
  it('removes an embryo left by a killed rkt once it is a minute old, and an aborted prepare at once', async () => {
    const { gcPods } = await import('../src/index.js');
    const { utimesSync } = await import('node:fs');
    const old = pod('embryo', U1);
    const fresh = pod('embryo', '33333333-2222-4333-8444-555555555555');
    pod('prepare', U2);
    const minuteAgo = new Date(Date.now() - 61_000);
    utimesSync(old, minuteAgo, minuteAgo);
    const released: string[] = [];
    const extended: { podUuid: string; podDirs: readonly string[] }[] = [];
    const store = { releasePod: async (u: string) => (released.push(u), true), extendPodDirs: async (use: (typeof extended)[number]) => (extended.push(use), false) };
    const r = await gcPods({ dataDir: dir, store });
    expect(r.failed).toEqual([]);
    expect(r.removed.sort()).toEqual([U1, U2]);
    expect(released.sort()).toEqual([U1, U2]);
    // Each pod's reference is made to list garbage/ before the pod moves there (an older rkt-ts's did not).
    for (const u of [U1, U2]) expect(extended.filter((e) => e.podUuid === u).map((e) => e.podDirs)).toContainEqual(expect.arrayContaining([join(dir, 'pods', 'garbage', u)]));
    expect(listPods(dir).map((p) => p.path)).toEqual([fresh]);
  });

  it("removes an embryo whose rkt was killed before it locked it at once, and keeps a live process's", async () => {
    const { gcPods } = await import('../src/index.js');
    const { uniqueName } = await import('@rkt/image-store');
    // What `rkt prepare` killed between its mkdir and its flock left (a pid that is gone), and a new one of this process.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const killed = pod('embryo', `embryo-${dead.pid}.1.abcdefgh`);
    const live = pod('embryo', uniqueName('embryo'));
    const store = { releasePod: async () => true, extendPodDirs: async () => false };
    const r = await gcPods({ dataDir: dir, store });
    expect(r.failed).toEqual([]);
    expect(existsSync(killed)).toBe(false);
    expect(existsSync(live)).toBe(true);
    // --mark-only deletes nothing.
    const killedAgain = pod('embryo', `embryo-${dead.pid}.1.ijklmnop`);
    await gcPods({ dataDir: dir, store, markOnly: true });
    expect(existsSync(killedAgain)).toBe(true);
  });
});

describe('reading a pod that moves', () => {
  it('finds it again by UUID when its directory is renamed under the reader', async () => {
    const { podDetails } = await import('../src/index.js');
    const { renameSync } = await import('node:fs');
    const p = pod('prepared', U1);
    writeFileSync(
      join(p, 'pod-info.json'),
      JSON.stringify({
        formatVersion: 1,
        uuid: U1,
        createdAt: '2026-01-02T03:04:05.000Z',
        stage1: { imageId: `sha512-${'b'.repeat(128)}`, imageName: 's1', treeId: 't' },
        apps: [],
        rootfsMode: 'auto',
        inheritEnv: false,
      }),
    );
    const seen = findPod(dir, U1);
    mkdirSync(join(dir, 'pods', 'run'), { recursive: true });
    renameSync(p, join(dir, 'pods', 'run', U1));
    const d = await podDetails(seen);
    expect(d).toMatchObject({ uuid: U1, state: 'exited', stateDir: 'run', path: join(dir, 'pods', 'run', U1) });
    expect(d.createdAt?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });
});

describe("rkt list's summary of a pod", () => {
  const record = (apps: unknown[]) =>
    JSON.stringify({
      formatVersion: 1,
      uuid: U1,
      createdAt: '2026-01-02T03:04:05.000Z',
      stage1: { imageId: `sha512-${'b'.repeat(128)}`, imageName: 's1', treeId: 't' },
      apps,
      rootfsMode: 'auto',
      inheritEnv: false,
    });
  const app = { name: 'a', imageId: `sha512-${'c'.repeat(128)}`, imageName: 'example.com/a', treeId: 't', lower: '/x' };

  it("is the details less the pid and the apps' exit statuses, the apps from the manifest", async () => {
    const { podDetails, podSummary } = await import('../src/index.js');
    const p = pod('run', U1);
    writeFileSync(join(p, 'pod-info.json'), record([app]));
    // The manifest names one more app than the record (an `app add` killed in between): both readers show it.
    const manifestApps = [app, { ...app, name: 'b' }].map((a) => ({ name: a.name, image: { id: a.imageId, name: a.imageName } }));
    writeFileSync(join(p, 'pod'), JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: manifestApps }));
    writeFileSync(join(p, 'started'), '2026-01-02T03:04:06.000Z\n');
    writeFileSync(join(p, 'pid'), '4242\n');
    mkdirSync(join(p, 'appsinfo', 'a'), { recursive: true });
    writeFileSync(join(p, 'appsinfo', 'a', 'exit'), '3\n');
    const seen = findPod(dir, U1);
    const details = await podDetails(seen);
    const summary = podSummary(seen);
    expect(details.pid).toBe(4242);
    expect([...details.appExitStatuses]).toEqual([['a', 3]]);
    const { pid: _pid, appExitStatuses: _exits, ...rest } = details;
    expect(summary).toEqual(rest);
    expect(summary.apps.map((a) => a.name)).toEqual(['a', 'b']);
    expect(summary.startedAt?.toISOString()).toBe('2026-01-02T03:04:06.000Z');
    expect('pid' in summary || 'appExitStatuses' in summary).toBe(false);
  });

  it('refuses a damaged record of an exited pod as the details do, and follows a pod renamed under it', async () => {
    const { podDetails, podSummary } = await import('../src/index.js');
    const { renameSync } = await import('node:fs');
    const p = pod('run', U1);
    writeFileSync(join(p, 'pod-info.json'), '{"formatVersion": 1, "uuid"');
    const seen = findPod(dir, U1);
    const fromDetails = await podDetails(seen).then(() => undefined, (err: unknown) => err as PodError);
    expect(fromDetails?.code).toBe('POD_FORMAT');
    expect(() => podSummary(seen)).toThrow(fromDetails?.message);

    writeFileSync(join(p, 'pod-info.json'), record([]));
    mkdirSync(join(dir, 'pods', 'exited-garbage'), { recursive: true });
    renameSync(p, join(dir, 'pods', 'exited-garbage', U1));
    expect(podSummary(seen)).toMatchObject({ uuid: U1, state: 'exited garbage', path: join(dir, 'pods', 'exited-garbage', U1), apps: [] });
  });
});

describe('listing pods while they start', () => {
  it('never shows as exited a pod locked before it was moved into run/, as stage0 moves it', async () => {
    // Another process starts pod after pod as `rkt run-prepared` does: lock the prepared directory, then move
    // it into run/. It keeps every lock, so no pod ever ends: a listing that shows one as exited read the locks
    // before the pod moved in. (python3: flock(1) in a shell takes milliseconds between the lock and the move.)
    mkdirSync(join(dir, 'pods', 'prepared'), { recursive: true });
    mkdirSync(join(dir, 'pods', 'run'), { recursive: true });
    const script = [
      'import fcntl, os, sys, time, uuid',
      'pods, held = sys.argv[1], []',
      'for _ in range(800):',
      '    u = str(uuid.uuid4())',
      "    os.mkdir(os.path.join(pods, 'prepared', u))",
      "    fd = os.open(os.path.join(pods, 'prepared', u), os.O_RDONLY | os.O_DIRECTORY)",
      '    fcntl.flock(fd, fcntl.LOCK_EX)',
      "    os.rename(os.path.join(pods, 'prepared', u), os.path.join(pods, 'run', u))",
      '    held.append(fd)',
      '    time.sleep(0.003)',
      'time.sleep(60)',
    ].join('\n');
    const starter = spawn('python3', ['-c', script, join(dir, 'pods')], { stdio: 'ignore' });
    try {
      const seen = new Set<string>();
      // Watched for 3 s from the starter's first pod: on a loaded machine python's own start may take seconds.
      const first = Date.now() + 15_000;
      while (readdirSync(join(dir, 'pods', 'run')).length === 0 && Date.now() < first) await new Promise((r) => setTimeout(r, 5));
      const end = Date.now() + 3000;
      while (Date.now() < end) {
        for (const p of listPods(dir)) seen.add(p.state);
        await new Promise((r) => setImmediate(r));
      }
      expect(seen).toContain('running');
      expect([...seen].filter((s) => s !== 'running' && s !== 'prepared')).toEqual([]);
    } finally {
      starter.kill('SIGKILL');
      await new Promise((r) => starter.once('exit', r));
    }
  }, 30_000);
});
