// The systemd stage1's tests whose checks lean on time: how soon a pod ends after its first failing app, and
// catching nspawn's outer child, which lives a few milliseconds, to kill nspawn while it sets the pod up. They
// run alone (the root vitest config's serial group): another file's pods booting beside them would stretch a
// 1 s bound or keep this process off the CPU for the outer child's whole life. The rest of the systemd stage1's
// run tests are in run.test.ts.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RktEnv, RktResult } from '../pods/harness.js';
import { appStatusesOf, expectNothingLeft, nspawnLockFile, onlyPodOf, systemdPodTests } from './harness.js';

const pods = systemdPodTests();
let env: RktEnv;
let aci: string;
beforeEach(() => ({ env, aci } = pods));

describe('rkt run (stage1-systemd), timed', () => {
  it('ends a pod as soon as one app fails: its siblings are stopped and rkt run exits with its status', async () => {
    const { child, done } = env.start([
      'run',
      aci,
      '--name=failing',
      '--exec=/bin/sh',
      '--',
      '-c',
      'sleep 1; echo failing-now; exit 5',
      '---',
      aci,
      '--name=sleeper',
      '--exec=/bin/sleep',
      '--',
      '100',
    ]);
    // Timed from the failing app's last output, not from rkt's start (which boots systemd first).
    let failedAt = 0;
    child.stdout?.on('data', (d: Buffer) => {
      if (failedAt === 0 && d.toString().includes('failing-now')) failedAt = Date.now();
    });
    const r = await done;
    const endedAt = Date.now();
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('failing-now\n');
    expect(r.status).toBe(5);
    expect(failedAt).toBeGreaterThan(0);
    // Generous for a loaded 2-core machine: the sibling's stop, systemd's exit and nspawn's teardown.
    expect(endedAt - failedAt).toBeLessThan(1_000);
    const uuid = onlyPodOf(env);
    // The sleeper was stopped by SIGTERM: 128 + 15.
    expect(appStatusesOf(env, uuid)).toEqual(['app-failing=5', 'app-sleeper=143']);
    expectNothingLeft(env, uuid);
  });
});

describe('the pod\'s root and a kill -9 of systemd-nspawn while it sets the pod up (stage1-systemd)', () => {
  /** The mount of `/` as a process sees it: its file system type and super options, from /proc/PID/mountinfo. */
  const rootMountOf = (pid: number): { fsType: string; options: string } | undefined => {
    for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      if (fields[4] === '/' && dash > 0) return { fsType: fields[dash + 1] ?? '', options: fields[dash + 3] ?? '' };
    }
    return undefined;
  };

  it("boots an overlay of the stage1's tree whose upper and work dirs are the pod's own, on a tmpfs in the pod directory", async () => {
    const { done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid, pid } = await env.waitRunning();
    const podDir = realpathSync(join(env.dataDir, 'pods', 'run', uuid));
    const root = rootMountOf(pid);
    expect(root?.fsType).toBe('overlay');
    // nspawn's --volatile=overlay had them on a tmpfs it made at /tmp/nspawn-volatile-XXXXXX on the host.
    expect(root?.options).toContain(`,upperdir=${podDir}/stage1-root/upper,workdir=${podDir}/stage1-root/work`);
    expect(env.mounts().filter((l) => l.split(' ')[4]?.startsWith(`${podDir}/stage1-root`)).map((l) => l.split(' ')[4])).toEqual([
      `${podDir}/stage1-root`,
      `${podDir}/stage1-root/rootfs`,
    ]);
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    expect((await done).status).toBe(137);
    expectNothingLeft(env, uuid);
  });

  const cmdline = (pid: number): string | undefined => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return undefined;
    }
  };
  const childrenOf = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '').map(Number);
    } catch {
      return [];
    }
  };
  /** The mount points of a process's mount namespace, or undefined once it is gone. */
  const mountPointsOf = (pid: number): string[] | undefined => {
    try {
      return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '');
    } catch {
      return undefined;
    }
  };

  /**
   * A mount the outer child made of its own: --volatile=overlay's tmpfs, or an API file system in the pod's
   * root, which is in the test's directory (the host's mounts, in the outer child's table too, are not).
   */
  const ownMount = (base: string) => (m: string): boolean => m.startsWith('/tmp/nspawn-volatile-') || (m.startsWith(base) && /\/rootfs\/(dev|proc|run|sys|tmp)$/.test(m));

  /** SIGSTOPs a process; false when it has already exited. */
  const stopped = (pid: number): boolean => {
    try {
      process.kill(pid, 'SIGSTOP');
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  };

  /**
   * Starts a pod and stops (SIGSTOP) nspawn's outer child `when` asked. nspawn forks it, it sets the pod's
   * mounts up in a mount namespace of its own, clones the pod's PID 1 and exits (in ~2 ms unloaded); it dies
   * with nspawn (its parent-death signal is SIGKILL). Looked for as fast as this process can; should this
   * process be off the CPU for all of its life, the pod is killed and another started.
   */
  const catchOuterChild = async (when: string): Promise<{ done: Promise<RktResult>; nspawn: number; mounts: string[] }> => {
    for (let attempt = 0; ; attempt++) {
      const { child, done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
      const rkt = child.pid as number;
      // rkt runs the run entrypoint in its own process: nspawn is its child, the outer child nspawn's first.
      let nspawn: number | undefined;
      let outer: number | undefined;
      for (const end = Date.now() + 20_000; outer === undefined && Date.now() < end; ) {
        nspawn ??= childrenOf(rkt).find((c) => cmdline(c)?.includes('\0--machine=rkt-') === true);
        if (nspawn !== undefined) outer = childrenOf(nspawn)[0];
      }
      expect(nspawn, 'rkt started nspawn').toBeDefined();
      // Gone between being seen and the signal (ESRCH): missed, as if never seen.
      if (when === 'as soon as its outer child exists' && outer !== undefined && !stopped(outer)) outer = undefined;
      // Not the pod's PID 1 already (a fork: the same command line as nspawn's).
      const own = ownMount(realpathSync(env.tmp));
      if (outer !== undefined && cmdline(outer) === cmdline(nspawn as number)) {
        // Kept short: the outer child's whole setup takes a few hundred microseconds.
        for (const end = Date.now() + 5_000; Date.now() < end; ) {
          const seen = mountPointsOf(outer);
          if (seen === undefined) break;
          if (when !== 'as soon as its outer child exists' && !seen.some(own)) continue;
          if (!stopped(outer)) break;
          // What it had when seen and once stopped: it may have unmounted one since.
          const now = mountPointsOf(outer);
          if (now !== undefined) return { done, nspawn: nspawn as number, mounts: [...new Set([...seen, ...now])] };
          break;
        }
      }
      // It lives a few ms: on a loaded machine (2 cores, other tests' pods booting) this process may be off the
      // CPU for all of it, a few times in a row.
      expect(attempt, 'the outer child was caught within eight pods').toBeLessThan(7);
      process.kill(nspawn as number, 'SIGKILL');
      await done;
      expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    }
  };

  // Killed at once (the outer child has not run yet), or as soon as it has a mount of its own: the API file
  // systems it mounts in the pod's root (with --volatile=overlay, which the stage1 no longer uses, also the
  // tmpfs it made at /tmp/nspawn-volatile-XXXXXX on the host, removed before it goes on).
  it.each(['as soon as its outer child exists', 'once its outer child has a mount of its own'])('a SIGKILL of nspawn %s: nothing is left after gc', async (when) => {
    const { done, nspawn, mounts } = await catchOuterChild(when);
    if (when !== 'as soon as its outer child exists') expect(mounts.filter(ownMount(realpathSync(env.tmp)))).not.toEqual([]);
    // nspawn locks the directory it boots before it forks its outer child.
    const lock = nspawnLockFile(env, onlyPodOf(env));
    process.kill(nspawn, 'SIGKILL');
    const r = await done;
    expect(r.status, r.stderr).toBe(137);
    const uuid = onlyPodOf(env);
    expectNothingLeft(env, uuid);
    expect(existsSync(lock)).toBe(false);
    expect(env.podUuids()).toEqual([]);
    // What the outer child made in the host's /tmp, as its mount namespace showed it.
    expect(mounts.filter((m) => m.startsWith('/tmp/nspawn-volatile-') && existsSync(m))).toEqual([]);
  });
});
