// Crash safety of what app-add-kill.test.ts does not reach: `rkt app add` killed whole while its stage1's app/add
// entrypoint works (writing the app's units, its nsenter and systemctl daemon-reload in the pod), and `rkt app rm`
// killed at points of its own (kill-sweep.ts's choice: its renames, unmounts, removals, the entrypoint's start)
// and killed whole inside its stage1's app/rm (the unit's stop, the units' removal, the reload). A kill of the
// whole command is rkt's process group killed at once at that call of the child (killGroupAt): rkt waiting on the
// child, the child cut short there. After each kill a user's commands must all work on the pod: `rkt app list`,
// `rkt status` and `rkt list` naming the same apps, `rkt app status` and `rkt app rm` of the app when it is
// listed, then a new `rkt app add` of that name, whose app starts, writes into its volume and is removed, leaving
// no mount, unit, directory or temp file of it; at the end `rkt stop` and `rkt gc` leave nothing of the pod.
// The sandbox's stage1 manifest is stripped of its app modules (fetchedSandbox's appModules: false), so that
// stage0 executes app/add and app/rm in a process of its own, as rkt's stage0 and a stage1 without modules have it.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RktEnv, RktResult } from '../pods/harness.js';
import { expectNothingLeft, fetchedSandbox, systemdPodTests } from '../systemd/harness.js';
import { chooseChildKillPoints, chooseKillPoints, killAt, killGroupAt, pointCount, sweep, traceToEnd, withAppExperimentAndStrace, type KillPoint, type KilledRun } from './kill-sweep.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Every rkt of this file, the traced ones too, runs with the experiment on.
withAppExperimentAndStrace();

/** The stage1's app entrypoints, as stage0 executes them (through the pod's stage1/rootfs link). */
const stage1AppEntrypoint = (verb: 'add' | 'rm') => (execve: string): boolean => execve.includes(`/stage1/rootfs/rkt/app-${verb}"`);

/** A running sandbox of the env with the image fetched, and what a test does to and checks of its app `web`. */
async function sandboxOf(env: RktEnv, aci: string) {
  const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
  const sandbox = await fetchedSandbox(env, aci, { appModules: false });
  const { uuid, podDir } = sandbox;
  const shared = join(env.tmp, 'shared');
  mkdirSync(shared);
  const add = ['app', 'add', uuid, 'example.com/busybox', '--name=web', '--exec=/bin/sh', `--mnt-volume=name=data,kind=host,source=${shared},target=/data`, '--', '-c', 'echo "$$" > /data/ran; exec sleep 100'];
  const rm = ['app', 'rm', uuid, '--app=web'];
  const listed = (where: string): string[] => ok(`${where}: rkt app list`, env.run(['app', 'list', '--no-legend', uuid])).stdout.split('\n').filter((l) => l !== '');
  const appsOf = (file: string): string[] => (JSON.parse(readFileSync(join(podDir, file), 'utf8')) as { apps: { name: string }[] }).apps.map((a) => a.name);
  const webMounts = (): string[] => env.mounts().filter((m) => m.includes('/appsinfo/web'));
  const webUnits = (): string[] => (existsSync(join(podDir, 'stage1-units')) ? readdirSync(join(podDir, 'stage1-units')).filter((u) => u.includes('web')) : []);

  /** The apps every command names, which must be the same: `rkt app list`'s, `rkt status`'s, `rkt list`'s. */
  const agreed = (where: string): string[] => {
    const names = listed(where).map((l) => l.split('\t')[0]!);
    const status = JSON.parse(ok(`${where}: rkt status`, env.run(['status', '--format=json', uuid])).stdout) as { app_names: string[] };
    const all = JSON.parse(ok(`${where}: rkt list`, env.run(['list', '--format=json'])).stdout) as { name: string; app_names: string[] }[];
    expect(status.app_names, `${where}: rkt status's apps against rkt app list's`).toEqual(names);
    expect(all.find((p) => p.name === uuid)?.app_names, `${where}: rkt list's apps against rkt app list's`).toEqual(names);
    // Never an app in stage0's record that the manifest (what the app commands name) lacks.
    expect(appsOf('pod-info.json').filter((a) => !appsOf('pod').includes(a)), `${where}: apps of the record alone`).toEqual([]);
    return names;
  };

  /** Added (and started, when asked): what the next kill finds. */
  const added = async (where: string, start: boolean): Promise<void> => {
    rmSync(join(shared, 'ran'), { force: true });
    ok(`${where}: rkt app add`, env.run(add));
    expect(listed(where), `${where}: rkt app list after the add`).toEqual(['web\tcreated']);
    if (!start) return;
    ok(`${where}: rkt app start`, env.run(['app', 'start', uuid, '--app=web']));
    for (let i = 0; i < 200 && !existsSync(join(shared, 'ran')); i++) await sleep(50);
    expect(existsSync(join(shared, 'ran')), `${where}: the app added never ran`).toBe(true);
    expect(listed(where), `${where}: rkt app list of the app started`).toEqual(['web\trunning']);
  };

  /** After a kill: the commands agree, the app (when listed) is removed, then added, run and removed again, and nothing of it is left. */
  const recovers = async (where: string): Promise<void> => {
    const apps = agreed(where);
    expect([[], ['web']], `${where}: the apps after the kill`).toContainEqual(apps);
    if (apps.length > 0) {
      expect(ok(`${where}: rkt app status`, env.run(['app', 'status', uuid, '--app=web'])).stdout).toMatch(/^name=web\nstate=(created|running|exited|removing|adding)\n/);
      ok(`${where}: rkt app rm`, env.run(rm));
      expect(webMounts(), `${where}: mounts after rkt app rm`).toEqual([]);
    }
    await added(`${where}, added again`, true);
    ok(`${where}: rkt app rm of the app started`, env.run(rm));
    expect(agreed(`${where}, removed`), `${where}: the apps after rm`).toEqual([]);
    expect([appsOf('pod'), appsOf('pod-info.json')], `${where}: manifest and record`).toEqual([[], []]);
    expect(webMounts(), `${where}: mounts`).toEqual([]);
    expect(webUnits(), `${where}: the app's units`).toEqual([]);
    expect(existsSync(join(podDir, 'appsinfo', 'web')), `${where}: the app's directory`).toBe(false);
    expect(readdirSync(podDir).filter((f) => f.endsWith('.tmp')), `${where}: temp files`).toEqual([]);
  };

  /** rkt stop and gc leave nothing of the pod, after a last kill left the app as it was. */
  const stopped = async (): Promise<void> => {
    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    expect(env.status(uuid).state).toBe('exited');
    expectNothingLeft(env, uuid);
  };
  return { uuid, add, rm, ok, added, recovers, stopped, agreed };
}

/** The kill's outcome for sweep(), with what it was checked against. */
async function checked(k: KilledRun, where: (k: KilledRun) => string, recovers: (where: string) => Promise<void>): Promise<KilledRun> {
  await recovers(where(k));
  return k;
}

describe('kill -9 of rkt app add inside its stage1 app/add, and of rkt app rm (systemd sandbox)', () => {
  it('rkt app add killed whole while its stage1 adds the app: the pod recovers', async () => {
    const { env, aci } = pods;
    const s = await sandboxOf(env, aci);
    // The first add writes the CLI's code cache: every later one makes the same calls.
    await s.added('the first add', false);
    s.ok('rkt app rm after the first add', env.run(s.rm));
    const points = await chooseChildKillPoints(env, s.add, pointCount(10), stage1AppEntrypoint('add'));
    s.ok('rkt app rm after the traced add', env.run(s.rm));
    expect(points.some((p) => p.syscall === 'execve' && p.line.includes('nsenter')), `the daemon-reload's nsenter among the points:\n${points.map((p) => p.line).join('\n')}`).toBe(true);
    await sweep(points, async (p: KillPoint) => checked(await killGroupAt(env, s.add, p), (k) => `rkt app add killed whole at ${k.at}`, s.recovers));
    // A last kill inside the stage1's add, left as it is for the pod's stop and gc.
    const last = points.find((p) => p.syscall === 'execve' && p.line.includes('nsenter'))!;
    expect((await killGroupAt(env, s.add, last)).killed).toBe(true);
    expect(s.agreed('before the stop')).toEqual(['web']);
    await s.stopped();
  }, 900_000);

  it('rkt app rm killed at its own points and whole inside its stage1 app/rm: the pod recovers', async () => {
    const { env, aci } = pods;
    const s = await sandboxOf(env, aci);
    await s.added('the first add', true);
    s.ok('the first rkt app rm', env.run(s.rm));
    await s.added('before the traced rm', true);
    // One traced rm gives both sets of points: its own and its stage1's.
    const run = await traceToEnd(env, s.rm);
    const { points: own } = await chooseKillPoints(env, s.rm, pointCount(8), [], run);
    const inChild = await chooseChildKillPoints(env, s.rm, pointCount(8), stage1AppEntrypoint('rm'), run);
    expect(inChild.some((p) => p.syscall === 'execve' && p.line.includes('nsenter')), `the stop's and reload's nsenter among the points:\n${inChild.map((p) => p.line).join('\n')}`).toBe(true);
    // Each kill finds the app added and running.
    await sweep(own, async (p) => {
      await s.added(`before the rm killed at ${p.line}`, true);
      return checked(await killAt(env, s.rm, p), (k) => `rkt app rm killed at ${k.at}`, s.recovers);
    });
    await sweep(inChild, async (p) => {
      await s.added(`before the rm killed at ${p.line}`, true);
      return checked(await killGroupAt(env, s.rm, p), (k) => `rkt app rm killed whole at ${k.at}`, s.recovers);
    });
    // A last kill, between stage0's record and manifest, left as it is for the pod's stop and gc.
    const between = own.find((p) => /rename.*"[^"]*\/pod"/.test(p.line)) ?? own.at(-1)!;
    await s.added('before the last kill', true);
    expect((await killAt(env, s.rm, between)).killed).toBe(true);
    await s.stopped();
  }, 900_000);
});
