// A pod, under each stage1, through every state with prepare, run-prepared, list, status, stop, rm and
// gc; crashes of stage0 and of the app; and what gc and rm leave behind (nothing: no directory, no mount).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPodPids } from '@rkt/controller/stage1-abi';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, STAGE1S, appProcess, RktEnv, prepareStage1Stores } from './harness.js';

let env: RktEnv;
let aci: string;

beforeAll(() => {
  ensureBuilt();
  // The stage1s' store templates once for the file: each test's seed is then a copy (seedStage1).
  prepareStage1Stores(...STAGE1S);
}, 600_000);
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
afterEach(async () => {
  await env.cleanup();
});

interface ListedPod {
  name: string;
  state: string;
  app_names: string[];
}
const list = (): ListedPod[] => JSON.parse(env.run(['list', '--format=json']).stdout) as ListedPod[];
const podDirs = (): string[] => {
  const root = join(env.dataDir, 'pods');
  return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s))) : [];
};
/** A process's pid in each pid namespace it is in, this one's first (`NSpid` of /proc/PID/status), or `gone`. */
const nsPid = (pid: number): string => {
  try {
    return /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim() ?? '?';
  } catch {
    return 'gone';
  }
};
/** Whether a process still runs: a zombie (dead, waiting for whoever adopted it to reap it) does not. */
const alive = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
};

function prepare(args: string[]): string {
  const r = env.run(['prepare', '--quiet', aci, ...args]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const uuid = r.stdout.trim();
  expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return uuid;
}

describe.each(STAGE1S)('pod lifecycle ($name)', (stage1) => {
  beforeEach(() => {
    env = new RktEnv(stage1);
    env.seedStage1();
    aci = fileAci.path;
  });

  it('prepare, run-prepared, stop, status --wait, rm: every state shows in list and status', async () => {
    const uuid = prepare(['--exec=/bin/sleep', '--', '30']);
    expect(list()).toEqual([expect.objectContaining({ name: uuid, state: 'prepared', app_names: ['busybox'] })]);
    expect(env.run(['status', uuid]).stdout).toMatch(/^state=prepared\ncreated=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0000 UTC\n$/);
    const manifest = JSON.parse(env.run(['cat-manifest', uuid.slice(0, 8)]).stdout) as { apps: { image: { id: string }; app: { exec: string[] } }[] };
    expect(manifest.apps[0]?.image.id).toMatch(/^sha512-[0-9a-f]{128}$/);
    expect(manifest.apps[0]?.app.exec).toEqual(['/bin/sleep', '30']);

    const running = env.start(['run-prepared', uuid.slice(0, 6)]);
    const ready = env.run(['status', '--wait-ready', uuid]);
    expect(ready.stdout, ready.stderr).toMatch(/^state=running\n/);
    // Ready means the pod's process is known: systemd's pod once showed as ready with pid=-1.
    expect(ready.stdout).toMatch(/\npid=[1-9][0-9]*\n/);
    const { pid } = await env.waitRunning();
    expect(env.status(uuid)).toMatchObject({ state: 'running', pid, exited: false });
    expect(alive(pid)).toBe(true);
    const table = env.run(['list', '--no-legend']).stdout;
    // As rkt: the image's version label after its name; --full adds the image ID, still cut to 19 characters.
    expect(table).toMatch(new RegExp(`^${uuid.slice(0, 8)}\\tbusybox\\texample.com/busybox:1.0\\trunning\\t`));
    const full = env.run(['list', '--no-legend', '--full']).stdout;
    expect(full.split('\t').filter((c) => c !== '').slice(0, 5)).toEqual([uuid, 'busybox', 'example.com/busybox:1.0', manifest.apps[0]!.image.id.slice(0, 19), 'running']);
    // rkt's columns, NETWORKS last; its cell is empty for a pod on the host's network, as every rkt-ts pod is
    // (and the JSON's networks []), after STARTED's tab padding as Go's tabwriter left it.
    const [legend, row] = env.run(['list']).stdout.split('\n');
    expect(legend!.split(/\t+/)).toEqual(['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']);
    expect(row).toMatch(new RegExp(`^${uuid.slice(0, 8)}\\t.*\\trunning\\t[^\\t]+\\t+[^\\t]+\\t+$`));
    expect(env.run(['list', '--full']).stdout.split('\n')[0]!.split(/\t+/)).toEqual(['UUID', 'APP', 'IMAGE NAME', 'IMAGE ID', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']);
    expect(list()).toEqual([expect.objectContaining({ name: uuid, networks: [] })]);

    // A running pod can neither be run again nor removed.
    const again = env.run(['run-prepared', uuid]);
    expect(again.status).toBe(254);
    expect(again.stderr).toContain('running, not prepared');
    expect(env.run(['rm', uuid]).status).toBe(254);

    const stop = env.run(['stop', uuid]);
    expect(stop.stdout).toBe(`"${uuid}"\n`);
    expect(stop.status).toBe(0);
    const waited = env.run(['status', '--wait', uuid]).stdout;
    expect(waited).toMatch(/^state=exited\n/);
    expect(waited).toContain('\nexited=true\n');
    // sleep killed by SIGTERM: 128 + 15.
    expect(waited).toMatch(/\napp-busybox=143\n$/);
    expect((await running.done).status).toBe(143);
    expect(alive(pid)).toBe(false);

    expect(env.mounts().length).toBeGreaterThan(0); // the exited pod's rootfs stays until rm/gc
    const rm = env.run(['rm', uuid.slice(0, 8)]);
    expect(rm.stderr).toBe('');
    expect(rm.stdout).toBe(`"${uuid}"\n`);
    expect(list()).toEqual([]);
    expect(podDirs()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });

  it('gc marks exited pods, removes them after the grace period, and unmounts everything', () => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const [pod] = list();
    expect(pod?.state).toBe('exited');
    expect(env.mounts().length).toBeGreaterThan(0);

    const marked = env.run(['gc', '--mark-only']);
    expect(marked.stdout).toBe(`Moving pod "${pod?.name}" to garbage\n`);
    expect(list()).toEqual([expect.objectContaining({ state: 'exited garbage' })]);
    // Within the grace period (default 30m) the pod stays.
    expect(env.run(['gc']).stdout).toBe('');
    expect(list()).toHaveLength(1);

    const gc = env.run(['gc', '--grace-period=0s']);
    expect(gc.stdout).toBe(`Garbage collecting pod "${pod?.name}"\n`);
    expect(gc.status).toBe(0);
    expect(list()).toEqual([]);
    expect(podDirs()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });

  it('gc leaves prepared pods until they expire, then removes them', () => {
    const uuid = prepare(['--exec=/bin/true']);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(list()).toEqual([expect.objectContaining({ name: uuid, state: 'prepared' })]);
    expect(env.run(['gc', '--grace-period=0s', '--expire-prepared=0s']).stdout).toBe(`Garbage collecting pod "${uuid}"\n`);
    expect(podDirs()).toEqual([]);
  });

  it('a kill -9 of rkt run leaves a pod that shows as exited, its app gone, and gc removes it', async () => {
    const { child, done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid, pid } = await env.waitRunning();
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    expect((await done).status).toBe(null);
    await env.waitState(uuid, 'exited', 5_000);
    expect(alive(pid)).toBe(false);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(podDirs()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });

  it('a kill -9 of the app ends rkt run with 137 and the pod shows as exited with that status', async () => {
    const { done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid, pid } = await env.waitRunning();
    // fly's pod pid is the app; systemd's is the pod's PID 1, and the app one of its services.
    let app: number | undefined;
    for (let i = 0; i < 400 && (app = appProcess(pid, '/bin/sleep')) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(app).toBeDefined();
    if (stage1.name === 'fly') expect(app).toBe(pid);
    process.kill(app!, 'SIGKILL');
    expect((await done).status).toBe(137);
    expect(env.status(uuid)).toMatchObject({ state: 'exited', exited: true, apps: [{ name: 'busybox', exit_code: 137 }] });
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(podDirs()).toEqual([]);
    expect(env.mounts()).toEqual([]);
  });

  it('stop asks politely, stop --force does not', async () => {
    // SIGTERM ignored, and the ignoring survives the exec: only SIGKILL ends this app.
    const { done } = env.start(['run', aci, '--exec=/bin/sh', '--', '-c', 'trap "" TERM; touch /ready; exec sleep 60']);
    const { uuid, pid } = await env.waitRunning();
    // The pod runs before its app has ignored SIGTERM (systemd boots first): stop only after that.
    const ready = join(env.dataDir, 'pods', 'run', uuid, 'appsinfo', 'busybox', 'rootfs', 'ready');
    for (let i = 0; i < 400 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(ready)).toBe(true);
    expect(env.run(['stop', uuid]).status).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(pid)).toBe(true);
    expect(env.status(uuid).state).toBe('running');
    expect(env.run(['stop', '--force', uuid]).stdout).toBe(`"${uuid}"\n`);
    expect((await done).status).toBe(137);
    expect(env.status(uuid)).toMatchObject({ state: 'exited', apps: [{ exit_code: 137 }] });
    // As rkt 1.30: an exited pod is stopped already, which is no failure.
    expect(env.run(['stop', uuid])).toEqual({ status: 0, stdout: `pod "${uuid}" is already stopped\n`, stderr: '' });
  });

  it("the pod's pid is one process from the moment rkt can read it (systemd's PID 1, never nspawn's outer child)", async () => {
    const { done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    // Read as rkt status, enter and stop read it, as often as this process can from before the stage1 starts
    // until the pod's first process is known for good: nspawn's outer child, once taken for systemd's pod's
    // pid, lived ~2 ms here (longer under load, when waitRunning could return it and the pid was gone later).
    const pids: number[] = [];
    const nsPids: string[] = [];
    let podDir: string | undefined;
    for (const end = Date.now() + 20_000; Date.now() < end; ) {
      if (podDir === undefined) {
        const uuid = env.podUuids()[0];
        if (uuid !== undefined && existsSync(join(env.dataDir, 'pods', 'run', uuid))) podDir = join(env.dataDir, 'pods', 'run', uuid);
        continue;
      }
      const { pid } = readPodPids(podDir);
      if (pid === undefined || pid === pids[pids.length - 1]) continue;
      pids.push(pid);
      nsPids.push(nsPid(pid));
      // fly's first process is the app; systemd's, the init of the pod's own pid namespace.
      if (stage1.name === 'fly' || /\s1$/.test(nsPids[nsPids.length - 1] ?? '')) break;
    }
    expect(nsPids).toHaveLength(1);
    const pid = pids[0] as number;
    if (stage1.name === 'systemd') expect(nsPids[0]).toMatch(/^[0-9]+\s+1$/);
    let app: number | undefined;
    for (let i = 0; i < 400 && (app = appProcess(pid, '/bin/sleep')) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(app).toBeDefined();
    expect(readPodPids(podDir as string).pid).toBe(pid);
    const uuid = env.podUuids()[0] as string;
    expect(env.status(uuid).pid).toBe(pid);
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    expect((await done).status).toBe(137);
  });

  // The systemd stage1's enter is proven with `rkt enter` in integration-tests/enter.
  it.runIf(stage1.name === 'fly')("the stage1 enter entrypoint runs a command inside a running app's root filesystem", async () => {
    const { done } = env.start(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo inside > /marker; exec sleep 60']);
    const { uuid, pid } = await env.waitRunning();
    const podDir = join(env.dataDir, 'pods', 'run', uuid);
    const manifest = JSON.parse(readFileSync(join(podDir, 'stage1', 'manifest'), 'utf8')) as { annotations: { name: string; value: string }[] };
    const enter = manifest.annotations.find((a) => a.name === 'coreos.com/rkt/stage1/enter')?.value;
    expect(enter).toBe('/fly/enter');
    for (let i = 0; i < 100 && !existsSync(join(podDir, 'appsinfo', 'busybox', 'rootfs', 'marker')); i++) await new Promise((r) => setTimeout(r, 50));
    const r = spawnSync(join(podDir, 'stage1', 'rootfs', enter!), [`--pid=${pid}`, '--appname=busybox', '--', '/bin/cat', '/marker'], {
      cwd: podDir,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('inside\n');
    expect(r.status).toBe(0);
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    expect((await done).status).toBe(137);
  });

  it('of two run-prepared of one pod exactly one runs it', async () => {
    const uuid = prepare(['--exec=/bin/sh', '--', '-c', 'sleep 1; echo ran']);
    const [a, b] = [env.start(['run-prepared', uuid]), env.start(['run-prepared', uuid])];
    const results = await Promise.all([a.done, b.done]);
    const won = results.filter((r) => r.status === 0);
    const lost = results.filter((r) => r.status === 254);
    expect(won).toHaveLength(1);
    expect(won[0]?.stdout).toBe('ran\n');
    expect(lost).toHaveLength(1);
    expect(lost[0]?.stderr).toMatch(/^run-prepared: pod .* (is not prepared|another rkt|no longer prepared|running, not prepared|exited, not prepared)/);
  });

  it('accepts unique UUID prefixes and refuses unknown or ambiguous ones in one line', () => {
    const r = env.run(['status', 'ffffffff']);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe('status: no pod matches "ffffffff"\n');
    expect(env.run(['status', 'not-a-uuid!']).stderr).toBe('status: "not-a-uuid!" is not a pod UUID or UUID prefix\n');
  });
});

describe('rkt stop of pods that are not running (fly)', () => {
  beforeEach(() => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'fly')!);
    aci = fileAci.path;
  });
  const exitedPod = (): string => {
    expect(env.run(['run', aci, '--exec=/bin/true']).status).toBe(0);
    const exited = list().filter((p) => p.state === 'exited');
    expect(exited).toHaveLength(1);
    return exited[0]!.name;
  };

  it('an exited pod is already stopped, as rkt 1.30 printed on stdout: exit 0, alone or beside a running pod it stops', async () => {
    const exited = exitedPod();
    expect(env.run(['stop', exited])).toEqual({ status: 0, stdout: `pod "${exited}" is already stopped\n`, stderr: '' });
    expect(env.run(['stop', '--force', exited.slice(0, 8)])).toEqual({ status: 0, stdout: `pod "${exited}" is already stopped\n`, stderr: '' });

    const { done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '60']);
    const { uuid: running } = await env.waitRunning();
    expect(env.run(['stop', exited, running])).toEqual({ status: 0, stdout: `pod "${exited}" is already stopped\n"${running}"\n`, stderr: '' });
    expect((await done).status).toBe(143);
    expect(env.status(exited).state).toBe('exited');
  });

  it('a prepared pod still fails in one line, 254, and an exited pod beside it is reported stopped already', () => {
    const prepared = prepare(['--exec=/bin/true']);
    const failure = `stop: error stopping "${prepared}": pod ${prepared} is prepared, not running\n`;
    expect(env.run(['stop', prepared])).toEqual({ status: 254, stdout: '', stderr: failure });
    const exited = exitedPod();
    expect(env.run(['stop', prepared, exited])).toEqual({ status: 254, stdout: `pod "${exited}" is already stopped\n`, stderr: failure });
    expect(env.status(prepared).state).toBe('prepared');
  });
});
