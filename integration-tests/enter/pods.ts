// Set-up shared by the enter and stop tests: both stage1 images built, a busybox image with `ps` and
// event handlers, and a clean-up that leaves no pod process, cgroup or nspawn directory behind.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAciFromLayout } from '@rkt/appc-spec';
import { buildBusyboxAci, ensureBuilt, ownCgroupDirs, podProcesses, removeCgroupTree, repoRoot, type RktEnv } from '../pods/harness.js';

export { podProcesses };

const BUILT = {
  systemd: join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci'),
  fly: join(repoRoot, 'packages/stage1-fly/dist/stage1-fly.aci'),
} as const;
export type Stage1Name = keyof typeof BUILT;

// The tests run hard links to the built images, made once per test process: a rebuild (rm -rf dist) by
// someone else during a run leaves them as they were.
const snapshotDir = join(tmpdir(), `rkt-enter-stage1s-${process.pid}`);
export const STAGE1S: Record<Stage1Name, string> = { systemd: join(snapshotDir, 'systemd.aci'), fly: join(snapshotDir, 'fly.aci') };

/** Removes the snapshot (afterAll of each test file; a test worker may end without running exit handlers). */
export function dropStage1Snapshot(): void {
  rmSync(snapshotDir, { recursive: true, force: true });
}

/** Builds what the tests run when it is missing (the systemd stage1 downloads Debian's systemd once), then snapshots the stage1s. */
export function ensureStage1sBuilt(): void {
  ensureBuilt();
  if (!existsSync(BUILT.systemd)) {
    const r = spawnSync('npm', ['run', 'build', '-w', '@rkt/stage1-systemd'], { cwd: repoRoot, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`stage1-systemd build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  mkdirSync(snapshotDir, { recursive: true });
  for (const name of Object.keys(BUILT) as Stage1Name[]) {
    if (existsSync(STAGE1S[name])) continue;
    try {
      linkSync(BUILT[name], STAGE1S[name]);
    } catch {
      copyFileSync(BUILT[name], STAGE1S[name]);
    }
  }
}

/**
 * The harness's busybox image plus the `ps` applet, with the given appc event handlers. The app's
 * working directory is /tmp, so that enter's working directory is seen to be the app's.
 */
export async function buildEnterImage(dir: string, handlers: Array<{ name: 'pre-start' | 'post-stop'; exec: string[] }> = []): Promise<string> {
  await buildBusyboxAci(dir);
  const layout = join(dir, 'busybox-layout');
  symlinkSync('busybox', join(layout, 'rootfs', 'bin', 'ps'));
  const manifest = JSON.parse(readFileSync(join(layout, 'manifest'), 'utf8')) as { app: Record<string, unknown> };
  manifest.app.workingDirectory = '/tmp';
  if (handlers.length > 0) manifest.app.eventHandlers = handlers;
  writeFileSync(join(layout, 'manifest'), JSON.stringify(manifest));
  const out = join(dir, 'busybox-enter.aci');
  await buildAciFromLayout(layout, out);
  return out;
}

/**
 * The cgroups (rkt-UUID) of the given systemd pods below this process's own, in every hierarchy: only
 * these pods', since other tests may run pods of their own meanwhile.
 */
export function podCgroups(uuids: readonly string[]): string[] {
  const found: string[] = [];
  for (const d of ownCgroupDirs()) {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || !e.name.startsWith('rkt-')) continue;
      if (uuids.includes(e.name.slice('rkt-'.length))) found.push(join(d, e.name));
    }
  }
  return found;
}

/** The UUIDs of every pod of a test's data directory, whatever its state. */
export function podUuids(env: RktEnv): string[] {
  const uuids: string[] = [];
  for (const state of ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage']) {
    const dir = join(env.dataDir, 'pods', state);
    if (existsSync(dir)) uuids.push(...readdirSync(dir));
  }
  return uuids;
}

/**
 * Ends what a test left running and removes it: systemd pods through their nspawn (`ppid`) and its
 * child, the pod's PID 1; then the harness's own clean-up (rkt processes, fly pids, mounts, the
 * directory); then the test's pods' nspawn propagation directories and cgroups.
 */
export async function cleanUp(env: RktEnv): Promise<void> {
  const uuids = podUuids(env);
  for (const line of spawnSync('sh', ['-c', `cat ${env.dataDir}/pods/run/*/ppid 2>/dev/null`], { encoding: 'utf8' }).stdout.split('\n')) {
    const ppid = Number(line.trim());
    if (!(ppid > 1)) continue;
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // nspawn is gone already.
    }
    for (const pid of [...children, ppid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  for (const uuid of uuids) rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  await env.cleanup();
  for (const c of podCgroups(uuids)) removeCgroupTree(c);
}
