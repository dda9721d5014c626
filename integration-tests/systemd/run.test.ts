// `rkt run` through the systemd stage1 (packages/stage1-systemd, built into stage1-systemd.aci by
// stage1-builder): systemd-nspawn boots systemd as the pod's PID 1, the app runs as a service unit, its
// output reaches rkt's stdout and its exit status is rkt's. Nothing may be left behind: no mount, no
// process, no cgroup, no nspawn propagation directory.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBusyboxAci, ensureBuilt, repoRoot, RktEnv } from '../pods/harness.js';

const stage1Aci = join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci');

let env: RktEnv;
let aci: string;

/** Builds the systemd stage1 when a targeted run finds it missing (it downloads Debian's systemd once). */
function ensureStage1Built(): void {
  if (existsSync(stage1Aci)) return;
  const r = spawnSync('npm', ['run', 'build', '-w', '@rkt/stage1-systemd'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stage1-systemd build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** The cgroup directories this test process lives in, in every hierarchy: nspawn makes its own below them. */
function ownCgroupDirs(): string[] {
  return readFileSync('/proc/self/cgroup', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [, controllers, path] = line.split(':') as [string, string, string];
      if (controllers === '') return existsSync('/sys/fs/cgroup/unified') ? join('/sys/fs/cgroup/unified', path) : join('/sys/fs/cgroup', path);
      return join('/sys/fs/cgroup', controllers.replace(/^name=/, ''), path);
    })
    .filter((d) => existsSync(d));
}

/** Cgroups of pods (rkt-UUID) and of nspawn (payload, supervisor), anywhere below this process's cgroups. */
function nspawnCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === 'payload' || e.name === 'supervisor' || e.name.startsWith('rkt-')) found.push(join(dir, e.name));
      walk(join(dir, e.name), depth + 1);
    }
  };
  for (const d of ownCgroupDirs()) walk(d, 0);
  return found;
}

/** Removes a cgroup and its children (rmdir is all a cgroup allows; a populated one stays and is reported). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Still populated: the test's own assertions report leftovers.
  }
}

/** Processes whose command line names the pod (nspawn's --machine=rkt-UUID, or the pod directory). */
function podProcesses(uuid: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(uuid) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
    } catch {
      // Exited while listing.
    }
  }
  return found;
}

beforeAll(() => {
  ensureBuilt();
  ensureStage1Built();
}, 600_000);
let cgroupsAtStart: string[];
beforeEach(async () => {
  cgroupsAtStart = nspawnCgroups();
  env = new RktEnv();
  aci = await buildBusyboxAci(env.tmp);
});
afterEach(async () => {
  // Pods of this stage1 are found by their nspawn (ppid file); SIGKILL to it and its child ends them.
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
  // A pod whose run entrypoint was killed (a timed-out test) leaves nspawn's propagation directory.
  for (const state of ['run', 'exited-garbage', 'garbage', 'prepared']) {
    const dir = join(env.dataDir, 'pods', state);
    if (!existsSync(dir)) continue;
    for (const uuid of readdirSync(dir)) rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
  }
  await env.cleanup();
  // And its cgroups, once its processes are gone (children first; rmdir is all a cgroup allows).
  for (const c of nspawnCgroups().filter((c) => !cgroupsAtStart.includes(c)).sort((a, b) => b.length - a.length)) {
    removeCgroupTree(c);
  }
});

describe('rkt run (stage1-systemd)', () => {
  it("boots systemd, prints the app's output, exits with its status and leaves nothing behind", () => {
    const cgroupsBefore = nspawnCgroups();
    const r = env.run([
      'run',
      `--stage1-path=${stage1Aci}`,
      aci,
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'echo "hello from $AC_APP_NAME as $(id -u):$(id -g) in $(pwd), pid1 $(cat /proc/1/comm)"; exit 5',
    ]);
    expect(r.stderr).toBe('');
    // PID 1 of the pod's pid namespace is systemd: the app ran as its service, not as nspawn's child.
    expect(r.stdout).toBe('hello from busybox as 0:0 in /, pid1 systemd\n');
    expect(r.status).toBe(5);

    const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
    expect(pods.map((p) => p.state)).toEqual(['exited']);
    const uuid = (pods[0] as { name: string }).name;
    expect(env.status(uuid).apps).toEqual([expect.objectContaining({ name: 'busybox', exit_code: 5 })]);
    expect(podProcesses(uuid)).toEqual([]);
    expect(nspawnCgroups()).toEqual(cgroupsBefore);
    expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
    // Only the app's overlay stays mounted until gc, as with every stage1; gc releases it.
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
  }, 60_000);

  it('runs a successful app to exit status 0 with its user, group and working directory', () => {
    const r = env.run([
      'run',
      `--stage1-path=${stage1Aci}`,
      aci,
      '--user=user',
      '--group=users',
      '--working-dir=/tmp',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'echo "$(id -u):$(id -g) $(pwd) $FROM_IMAGE"',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1000:100 /tmp image-value\n');
    expect(r.status).toBe(0);
  }, 60_000);

  it('runs several apps, ends the pod when all have ended, records each status and exits with the first failure', () => {
    const r = env.run([
      'run',
      `--stage1-path=${stage1Aci}`,
      aci,
      '--name=first',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'echo "first is $AC_APP_NAME"; exit 3',
      '---',
      aci,
      '--name=second',
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      'sleep 1; echo "second is $AC_APP_NAME"',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('first is first\nsecond is second\n');
    expect(r.status).toBe(3);
    const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
    const uuid = (pods[0] as { name: string }).name;
    const apps = env.status(uuid).apps;
    expect(apps.map((a) => [a.name, a.exit_code]).sort()).toEqual([
      ['first', 3],
      ['second', 0],
    ]);
    expect(podProcesses(uuid)).toEqual([]);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
  }, 60_000);

  it('gc removes what a killed run entrypoint left: the pod cgroups and the propagation directory', async () => {
    const cgroupsBefore = nspawnCgroups();
    const { done } = env.start(['run', `--stage1-path=${stage1Aci}`, aci, '--exec', '/bin/sh', '--', '-c', 'sleep 100']);
    const { uuid } = await env.waitRunning();
    const runPid = Number(readFileSync(join(env.dataDir, 'pods', 'run', uuid, 'ppid'), 'utf8').trim());
    // The run entrypoint (nspawn's parent) and the pod's PID 1 (nspawn's child) die without clean-up.
    const runEntrypoint = Number(readFileSync(`/proc/${runPid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    const pid1 = Number(readFileSync(`/proc/${runPid}/task/${runPid}/children`, 'utf8').trim().split(/\s+/)[0]);
    process.kill(runEntrypoint, 'SIGKILL');
    process.kill(pid1, 'SIGKILL');
    await done;
    await env.waitState(uuid, 'exited');
    expect(nspawnCgroups().length).toBeGreaterThan(cgroupsBefore.length);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(podProcesses(uuid)).toEqual([]);
    expect(nspawnCgroups()).toEqual(cgroupsBefore);
    expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
    expect(env.mounts()).toEqual([]);
  }, 60_000);

  it('rkt stop halts the pod cleanly, and nothing is left behind', async () => {
    const cgroupsBefore = nspawnCgroups();
    const { done } = env.start(['run', `--stage1-path=${stage1Aci}`, aci, '--exec', '/bin/sh', '--', '-c', 'echo up; sleep 100']);
    const { uuid } = await env.waitRunning();
    const stop = env.run(['stop', uuid]);
    expect(stop.status).toBe(0);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('up\n');
    expect(env.status(uuid).state).toBe('exited');
    expect(podProcesses(uuid)).toEqual([]);
    expect(nspawnCgroups()).toEqual(cgroupsBefore);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(env.mounts()).toEqual([]);
    expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
  }, 60_000);
});
