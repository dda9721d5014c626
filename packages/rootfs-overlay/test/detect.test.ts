import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, watch } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { detectOverlay, mountAppRootfs, mountsUnder, OVERLAY_CACHE_FILE, removeStaleOverlayProbes, RootfsError, unmountTree } from '../src/index.js';
import { sh, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

interface Cache {
  version: number;
  device: string;
  kernel: string;
  supported: boolean;
  reason?: string;
}

async function readCache(dataDir: string): Promise<Cache> {
  return JSON.parse(await readFile(join(dataDir, OVERLAY_CACHE_FILE), 'utf8')) as Cache;
}

async function lowerTree(root: string): Promise<string> {
  const lower = join(root, 'cas', 'trees', 't1', 'rootfs');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await writeFile(join(lower, 'etc', 'os-release'), 'ID=test\n');
  return lower;
}

describe('detectOverlay', () => {
  it('finds overlay on the local filesystem, caches the verdict by device, and probes again on another device', async () => {
    const dataDir = await tmp.make('rkt-data-');
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    const cache = await readCache(dataDir);
    expect(cache).toMatchObject({ version: 1, supported: true, kernel: release() });
    expect(cache.device).toMatch(/^\d+:\d+$/);
    // The probe leaves nothing but the cache behind.
    expect(await readdir(dataDir)).toEqual([OVERLAY_CACHE_FILE]);

    // A cached verdict is used as is (this one is forged to tell it apart from a probe)...
    await writeFile(join(dataDir, OVERLAY_CACHE_FILE), JSON.stringify({ ...cache, supported: false, reason: 'forged' }));
    expect(await detectOverlay(dataDir)).toEqual({ supported: false, reason: 'forged' });
    // ...unless it was recorded for another filesystem (the data dir moved) or kernel, or is torn.
    await writeFile(join(dataDir, OVERLAY_CACHE_FILE), JSON.stringify({ ...cache, device: '0:0', supported: false, reason: 'forged' }));
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    await writeFile(join(dataDir, OVERLAY_CACHE_FILE), JSON.stringify({ ...cache, kernel: '2.6.32', supported: false, reason: 'forged' }));
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    await writeFile(join(dataDir, OVERLAY_CACHE_FILE), '{"version": 1, "dev');
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    expect((await readCache(dataDir)).device).toBe(cache.device);
  });

  it('a data dir inside an overlay cannot host upper dirs: unsupported with the kernel reason, and auto copies', async () => {
    const root = await tmp.make();
    const lower = await lowerTree(root);
    // Make the data dir live on an overlay filesystem (as when rkt itself runs in a container).
    const merged = join(root, 'host');
    await mountAppRootfs({ lower, target: merged, upper: join(root, 'hu'), work: join(root, 'hw'), mode: 'overlay' });
    const dataDir = join(merged, 'var', 'lib', 'rkt');
    await mkdir(dataDir, { recursive: true });

    const v = await detectOverlay(dataDir);
    expect(v.supported).toBe(false);
    expect(v.reason).toMatch(new RegExp(`^overlay on overlay \\(overlay, \\d+:\\d+, mounted at ${merged}\\): cannot mount overlay`));
    expect(v.reason).toContain('not supported as upperdir');
    expect((await readCache(dataDir)).supported).toBe(false);
    expect(await readdir(dataDir)).toEqual([OVERLAY_CACHE_FILE]);

    const said: string[] = [];
    const pod = join(dataDir, 'pods', 'run', 'p1');
    const r = await mountAppRootfs({
      lower,
      target: join(pod, 'rootfs'),
      upper: join(pod, 'upper'),
      work: join(pod, 'work'),
      mode: 'auto',
      dataDir,
      debug: (m) => said.push(m),
    });
    expect(r.mode).toBe('copy');
    expect(said).toHaveLength(1);
    expect(said[0]).toContain(`rootfs: not using overlay: ${v.reason}; copying ${lower} to ${join(pod, 'rootfs')}`);
    expect(await readFile(join(pod, 'rootfs', 'etc', 'os-release'), 'utf8')).toBe('ID=test\n');
    // Only the outer overlay is mounted: the pod got a plain copy.
    expect((await mountsUnder(root)).map((m) => m.mountPoint)).toEqual([merged]);
    await unmountTree(root);
  });

  it('a filesystem without d_type mounts an overlay that misbehaves: the probe notices and says so', async () => {
    const root = await tmp.make();
    const img = join(root, 'no-dtype.img');
    sh('truncate', ['-s', '32M', img]);
    sh('mkfs.ext4', ['-q', '-O', '^filetype', img]);
    const dataDir = join(root, 'mnt');
    await mkdir(dataDir);
    sh('mount', ['-o', 'loop', img, dataDir]);
    const v = await detectOverlay(dataDir);
    expect(v.supported).toBe(false);
    expect(v.reason).toContain('a deleted lower file still shows in the directory listing (no d_type support?)');
    expect(v.reason).toMatch(/^overlay on ext4 \(\/dev\/loop\d+/);
    await unmountTree(root);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('a missing data dir is an error naming it, not a verdict', async () => {
    const root = await tmp.make();
    const err = await detectOverlay(join(root, 'missing')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RootfsError);
    expect(err).toMatchObject({ code: 'ROOTFS_DETECT', path: join(root, 'missing') });
    expect((err as Error).message).toMatch(/^cannot probe overlay support in data dir .*missing: /);
  });

  /** The start time of a process, field 22 of its /proc/PID/stat (read here independently of the package's code). */
  const startTime = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.split(' ')[19] as string;

  /**
   * What probers killed mid-way leave (their directories, their overlays mounted): one named by an older
   * rkt-ts (pid only) and one whose pid now belongs to another process (a `sleep`, started after the probe's
   * start time), beside the directories of live probers named either way; and the same of the verdict's
   * temp file, which a writer killed before its rename leaves.
   */
  async function leaveProbes(dataDir: string, reuser: ChildProcess): Promise<{ live: string[] }> {
    const dead = spawnSync('true').pid as number;
    const reused = reuser.pid as number;
    for (const stale of [`.overlay-probe-${dead}-abc123`, `.overlay-probe-${reused}.${Number(startTime(reused)) - 1}-ghi789`]) {
      await mkdir(join(dataDir, stale, 'merged'), { recursive: true });
      sh('mount', ['-t', 'tmpfs', 'x', join(dataDir, stale, 'merged')]);
    }
    const live = [`.overlay-probe-${process.pid}-def456`, `.overlay-probe-${process.pid}.${startTime(process.pid)}-jkl012`];
    for (const l of live) await mkdir(join(dataDir, l));
    // The verdict's temp file of a writer killed before its rename, named either way, and live writers'.
    const temp = `${OVERLAY_CACHE_FILE}.`;
    for (const stale of [`${temp}${dead}-0a1b2c3d`, `${temp}${reused}.${Number(startTime(reused)) - 1}-4e5f6a7b`]) {
      await writeFile(join(dataDir, stale), '{"version": 1, "dev');
    }
    const liveTemps = [`${temp}${process.pid}-8c9d0e1f`, `${temp}${process.pid}.${startTime(process.pid)}-2a3b4c5d`];
    for (const l of liveTemps) await writeFile(join(dataDir, l), '{"version": 1, "dev');
    return { live: [...live, ...liveTemps] };
  }

  /** A process that lives for the test (and not past it), whose pid a dead prober's name carries. */
  function reusedPid(): ChildProcess {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    return child;
  }

  it('removes the leftovers of a probe whose process died mid-way, mount and verdict temp included, but not a live one\'s', async () => {
    const dataDir = await tmp.make('rkt-data-');
    const { live } = await leaveProbes(dataDir, reusedPid());
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    expect((await readdir(dataDir)).sort()).toEqual([...live, OVERLAY_CACHE_FILE].sort());
    expect(await mountsUnder(dataDir)).toEqual([]);
  });

  it('removeStaleOverlayProbes (rkt gc) removes a dead probe and verdict temp once the verdict is cached, its pid reused or not, and nothing of a live one', async () => {
    const dataDir = await tmp.make('rkt-data-');
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    const { live } = await leaveProbes(dataDir, reusedPid());
    // The cached verdict means no probe runs again to find it.
    expect(await detectOverlay(dataDir)).toEqual({ supported: true });
    expect(await mountsUnder(dataDir)).toHaveLength(2);
    await removeStaleOverlayProbes(dataDir);
    expect((await readdir(dataDir)).sort()).toEqual([...live, OVERLAY_CACHE_FILE].sort());
    expect(await mountsUnder(dataDir)).toEqual([]);
    await removeStaleOverlayProbes(join(dataDir, 'missing'));
  });

  it('names its probe after its pid and start time, which gc leaves alone while it runs', async () => {
    const dataDir = await tmp.make('rkt-data-');
    // Seen from outside while it probes: the probe directory is made before the first await that yields.
    const probing = detectOverlay(dataDir);
    let seen: string[] = [];
    for (let i = 0; i < 200 && seen.length === 0; i++) {
      seen = (await readdir(dataDir)).filter((n) => n.startsWith('.overlay-probe-'));
      if (seen.length === 0) await new Promise((r) => setImmediate(r));
    }
    await removeStaleOverlayProbes(dataDir);
    expect(await probing).toEqual({ supported: true });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(new RegExp(`^\\.overlay-probe-${process.pid}\\.${startTime(process.pid)}-`));
  });

  it('names the verdict\'s temp file after its pid and start time, as gc expects', async () => {
    const dataDir = await tmp.make('rkt-data-');
    const names: string[] = [];
    const watcher = watch(dataDir, (_event, name) => { if (name !== null) names.push(name); });
    try {
      expect(await detectOverlay(dataDir)).toEqual({ supported: true });
      // inotify's events are queued before the call returns; let the watcher take them.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      watcher.close();
    }
    const temps = [...new Set(names.filter((n) => n.startsWith(`${OVERLAY_CACHE_FILE}.`)))];
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(new RegExp(`^${OVERLAY_CACHE_FILE.replace('.', '\\.')}\\.${process.pid}\\.${startTime(process.pid)}-[0-9a-f]{8}$`));
    expect(await readdir(dataDir)).toEqual([OVERLAY_CACHE_FILE]);
  });

  it('concurrent first probes of one data dir agree and leave one cache file', async () => {
    const dataDir = await tmp.make('rkt-data-');
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => detectOverlay(dataDir, { force: true })));
    expect(verdicts).toEqual(Array(5).fill({ supported: true }));
    expect(await readdir(dataDir)).toEqual([OVERLAY_CACHE_FILE]);
    expect((await readCache(dataDir)).supported).toBe(true);
  });
});
