// Set-up of the isolator tests: a busybox image whose manifest may carry isolators, pods run under the
// systemd stage1, and the clean-up of everything such a pod makes on the host (its processes, nspawn's
// propagation directory, its cgroups in every hierarchy, the controller ones included).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { ownCgroupDirs, removeCgroupTree, repoRoot, RktEnv } from '../pods/harness.js';

const builtStage1 = join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci');
/**
 * A snapshot of the built stage1 for this test process: other work may rebuild dist/ (rm -rf, then
 * write) while these tests run, and a pod must never find the image half written.
 */
export const stage1Aci = join(tmpdir(), `rkt-isolators-stage1-${process.pid}.aci`);

/** Builds the systemd stage1 when a targeted run finds it missing (it downloads Debian's systemd once), and snapshots it. */
export function ensureStage1Built(): void {
  if (!existsSync(builtStage1)) {
    const r = spawnSync('npm', ['run', 'build', '-w', '@rkt/stage1-systemd'], { cwd: repoRoot, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`stage1-systemd build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  rmSync(stage1Aci, { force: true });
  try {
    linkSync(builtStage1, stage1Aci);
  } catch {
    copyFileSync(builtStage1, stage1Aci);
  }
}

/** The fly stage1, snapshotted likewise (ensureBuilt of the pod harness builds it). */
export const flyAci = join(tmpdir(), `rkt-isolators-fly-${process.pid}.aci`);

export function snapshotFly(): void {
  const built = join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci');
  rmSync(flyAci, { force: true });
  try {
    linkSync(built, flyAci);
  } catch {
    copyFileSync(built, flyAci);
  }
}

/** Removes the snapshots (afterAll). */
export function removeStage1Snapshot(): void {
  rmSync(stage1Aci, { force: true });
  rmSync(flyAci, { force: true });
}

const APPLETS = ['sh', 'echo', 'true', 'cat', 'ping', 'head', 'tr', 'sleep', 'chmod', 'touch', 'grep', 'test', '[', 'mount', 'chown'];

/** A busybox ACI (Debian's busybox-static) named `name`, its app's isolators as given. */
export async function buildIsolatorAci(dir: string, name: string, isolators: unknown[] = []): Promise<string> {
  const layout = join(dir, `${name}-layout`);
  mkdirSync(join(layout, 'rootfs', 'bin'), { recursive: true });
  mkdirSync(join(layout, 'rootfs', 'etc'));
  mkdirSync(join(layout, 'rootfs', 'tmp'));
  copyFileSync('/bin/busybox', join(layout, 'rootfs', 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(layout, 'rootfs', 'bin', applet));
  writeFileSync(join(layout, 'rootfs', 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n');
  writeFileSync(join(layout, 'rootfs', 'etc', 'group'), 'root:x:0:\nusers:x:100:\n');
  writeFileSync(
    join(layout, 'manifest'),
    JSON.stringify({
      acKind: 'ImageManifest',
      acVersion: '0.8.11',
      name: `example.com/${name}`,
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      app: { exec: ['/bin/true'], user: '0', group: '0', ...(isolators.length > 0 ? { isolators } : {}) },
    }),
  );
  const out = join(dir, `${name}.aci`);
  await buildAciFromLayout(layout, out);
  return out;
}

/** The pod's own cgroup (rkt-UUID) in the v1 hierarchy of `controller`, where its systemd puts the apps. */
export function podControllerCgroup(controller: string, uuid: string): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .trim()
    .split('\n')
    .find((l) => (l.split(':')[1] ?? '').split(',').includes(controller));
  if (line === undefined) throw new Error(`no cgroup v1 ${controller} hierarchy`);
  const [, field, path] = line.split(':') as [string, string, string];
  return join('/sys/fs/cgroup', field, path, `rkt-${uuid}`);
}

/** Pod and nspawn cgroups (rkt-*, payload, supervisor) below this process's cgroups, in every hierarchy. */
export function podCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === 'payload' || e.name === 'supervisor' || e.name.startsWith('rkt-')) found.push(join(dir, e.name));
      else walk(join(dir, e.name), depth + 1);
    }
  };
  for (const d of ownCgroupDirs()) walk(d, 0);
  return found;
}

/** Kills this env's pods (nspawn's pid in `ppid`), removes their propagation directories, mounts, files and cgroups. */
export async function cleanupSystemdPods(env: RktEnv, cgroupsAtStart: readonly string[]): Promise<void> {
  for (const line of spawnSync('sh', ['-c', `cat ${env.dataDir}/pods/run/*/ppid 2>/dev/null`], { encoding: 'utf8' }).stdout.split('\n')) {
    const pid = Number(line.trim());
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  for (const state of ['run', 'exited-garbage', 'garbage', 'prepared']) {
    const dir = join(env.dataDir, 'pods', state);
    if (!existsSync(dir)) continue;
    for (const uuid of readdirSync(dir)) rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  }
  // This env's pods only: other work on the machine runs pods of its own at the same time.
  const uuids: string[] = [];
  for (const state of readdirSafe(join(env.dataDir, 'pods'))) uuids.push(...readdirSafe(join(env.dataDir, 'pods', state)));
  await env.cleanup();
  // A pod whose nspawn died first (a test that failed half-way) leaves its systemd running: every process in
  // the cgroups this env's pods made is killed, then the cgroups are removed once empty.
  const leftovers = () => podCgroups().filter((c) => !cgroupsAtStart.includes(c) && uuids.some((u) => c.includes(`/rkt-${u}`)));
  for (let attempt = 0; attempt < 20 && leftovers().length > 0; attempt++) {
    for (const c of leftovers()) for (const pid of cgroupPids(c)) killQuietly(pid);
    await new Promise((r) => setTimeout(r, 100));
    for (const c of leftovers().sort((a, b) => b.length - a.length)) removeCgroupTree(c);
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  try {
    pids.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number));
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) pids.push(...cgroupPids(join(dir, e.name)));
  } catch {
    // Removed meanwhile.
  }
  return pids;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
