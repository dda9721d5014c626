// `rkt stop` of a running pod whose systemd-nspawn is gone (kill -9): its pod's systemd and apps, re-parented
// to the host's init, are found by the pod's cgroups and killed, with or without --force, instead of a stop
// that signals nobody and claims success. Real processes in a real cgroup of the pod's name; the stop
// entrypoint as rkt calls it (its module function). The whole pod is in integration-tests/systemd/run.test.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cgroupTreePids, machineScopeName, nspawnHierarchyRoots } from '../src/cgroups.js';
import { stop } from '../src/entrypoints/stop.js';

let podDir: string;
let uuid: string;
let cgroup: string;
let orphan: ChildProcess | undefined;

beforeEach(() => {
  podDir = mkdtempSync(join(tmpdir(), 'stage1-systemd-stop-'));
  uuid = randomUUID();
  cgroup = join(nspawnHierarchyRoots()[0] as string, `rkt-${uuid}`, 'payload');
  mkdirSync(cgroup, { recursive: true });
  // nspawn's pid, of a process that has exited: what `ppid` names after a kill -9 of nspawn.
  const gone = spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim();
  writeFileSync(join(podDir, 'ppid'), `${gone}\n`);
});

afterEach(() => {
  orphan?.kill('SIGKILL');
  orphan = undefined;
  for (let i = 0; i < 50 && cgroupTreePids(join(cgroup, '..')).length > 0; i++) spawnSync('sleep', ['0.02']);
  rmdirSync(cgroup);
  rmdirSync(join(cgroup, '..'));
  rmSync(podDir, { recursive: true, force: true });
});

/** A process left in the pod's cgroup, as the pod's re-parented systemd is. */
async function startOrphan(): Promise<number> {
  orphan = spawn('/bin/sh', ['-c', `echo $$ > ${join(cgroup, 'cgroup.procs')} && exec sleep 100`], { stdio: 'ignore' });
  for (let i = 0; i < 100 && cgroupTreePids(cgroup).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(cgroupTreePids(cgroup)).toEqual([orphan.pid]);
  return orphan.pid as number;
}

/** The signal that ended the process, or 'alive' when it still runs 5 s on. */
const exited = (child: ChildProcess): Promise<NodeJS.Signals | null | 'alive'> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode);
    child.once('exit', (_, sig) => resolve(sig));
    setTimeout(() => resolve('alive'), 5_000);
  });

describe('stop of a pod whose nspawn is gone', () => {
  for (const force of [false, true]) {
    it(`${force ? 'stop --force' : 'stop'} kills what is left in the pod's cgroups and notes the stop`, async () => {
      await startOrphan();
      await stop([...(force ? ['--force'] : []), uuid], { podDir });
      expect(await exited(orphan as ChildProcess)).toBe('SIGKILL');
      expect(cgroupTreePids(cgroup)).toEqual([]);
      expect(readFileSync(join(podDir, 'stage1-stop'), 'utf8')).toBe(force ? 'KILL\n' : 'TERM\n');
    });
  }

  it('with nothing left in the pod (its run is ending it) stops without an error', async () => {
    await expect(stop([uuid], { podDir })).resolves.toBeUndefined();
  });
});

describe('machineScopeName', () => {
  it("is machined's scope of a registered pod: the machine name rkt-UUID escaped as systemd escapes unit names", () => {
    expect(machineScopeName('0a1b2c3d-0000-4000-8000-00000000000f')).toBe('machine-rkt\\x2d0a1b2c3d\\x2d0000\\x2d4000\\x2d8000\\x2d00000000000f.scope');
  });
});
