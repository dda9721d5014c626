// The stage0 side of the run, gc and stop modules (rkt-ts.dev/stage1/run-module, gc-module, stop-module): which stage1s have a usable one, loading
// it (or why not), and calling it in the pod directory. The real systemd stage1's module runs real pods in
// integration-tests/systemd/run.test.ts.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stage1AppEntrypoints, stage1GcEntrypoints, stage1RunEntrypoints } from '../src/index.js';
import { deleteGarbagePod } from '../src/delete.js';
import { tryLockDir, unlock } from '../src/lock.js';
import { stopPod } from '../src/stop.js';
import { inDirectory, loadAppModule, loadRunModule, runModuleInPodDir } from '../src/run-module.js';

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'controller-run-module-')));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A pod directory whose stage1 manifest has these annotations besides the run entrypoint's. */
function podWith(annotations: Array<{ name: string; value: string }>): string {
  const pod = join(dir, 'pod');
  mkdirSync(join(pod, 'stage1'), { recursive: true });
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/stage1',
    annotations: [{ name: 'coreos.com/rkt/stage1/run', value: '/s1/run' }, ...annotations],
  };
  writeFileSync(join(pod, 'stage1', 'manifest'), JSON.stringify(manifest));
  return pod;
}

/** An extensionless CommonJS file, as in a stage1 image (a package.json of type commonjs beside it). */
function module(name: string, source: string): string {
  const d = join(dir, 'modules');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(join(d, name), `#!/usr/bin/env node\n${source}\n`);
  return join(d, name);
}

/**
 * A pod in `stateDir` of a data dir whose stage1 names `kind`'s entrypoint and module (of `version`) as one
 * file, `source` followed by the executable's call, as the built stage1s have them: a module when required,
 * the executable when run.
 */
function podWithEntrypoint(stateDir: string, uuid: string, kind: 'gc' | 'stop', version: string, source: string): { dataDir: string; pod: string } {
  const dataDir = join(dir, 'data');
  const pod = join(dataDir, 'pods', stateDir, uuid);
  mkdirSync(join(pod, 'stage1', 'rootfs', 's1'), { recursive: true });
  const annotations = [
    { name: 'coreos.com/rkt/stage1/run', value: '/s1/run' },
    { name: `coreos.com/rkt/stage1/${kind}`, value: `/s1/${kind}` },
    { name: `rkt-ts.dev/stage1/${kind}-module`, value: `/s1/${kind}` },
    { name: `rkt-ts.dev/stage1/${kind}-module-version`, value: version },
  ];
  writeFileSync(join(pod, 'stage1', 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/stage1', annotations }));
  writeFileSync(join(pod, 'stage1', 'rootfs', 's1', 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(
    join(pod, 'stage1', 'rootfs', 's1', kind),
    `#!${process.execPath}\nconst fs = require('fs');\n${source}\nif (require.main === module) exports.${kind}(process.argv.slice(2), { podDir: process.cwd() }).catch((e) => { console.error(e.message); process.exit(1); });\n`,
    { mode: 0o755 },
  );
  return { dataDir, pod };
}

describe('stage1RunEntrypoints', () => {
  it('names the run executable, and the run module when the stage1 annotates one of a supported version', () => {
    const rootfs = (p: string) => join(dir, 'pod', 'stage1', 'rootfs', p);
    expect(stage1RunEntrypoints(podWith([]))).toEqual({ executable: rootfs('s1/run'), module: undefined, execable: false, interfaceVersion: 1 });
    expect(
      stage1RunEntrypoints(
        podWith([
          { name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' },
          { name: 'rkt-ts.dev/stage1/run-module-version', value: '1' },
        ]),
      ),
    ).toEqual({ executable: rootfs('s1/run'), module: { path: rootfs('s1/run') }, execable: false, interfaceVersion: 1 });
  });

  it("gives the stage1's interface version, which says whether its run takes --dns-conf-mode (4)", () => {
    const version = (value: string) => stage1RunEntrypoints(podWith([{ name: 'coreos.com/rkt/stage1/interface-version', value }])).interfaceVersion;
    expect([version('1'), version('3'), version('4')]).toEqual([1, 3, 4]);
  });

  it('lets stage0 exec the run executable only when the stage1 says so, in a version of the contract it knows', () => {
    const execable = (value: string | undefined) =>
      stage1RunEntrypoints(podWith(value === undefined ? [] : [{ name: 'rkt-ts.dev/stage1/run-exec', value }])).execable;
    expect([execable('1'), execable(undefined), execable('2'), execable(''), execable('true')]).toEqual([true, false, false, false, false]);
  });

  it('gives the reason a module of another version, or of none, is not used', () => {
    const two = stage1RunEntrypoints(
      podWith([
        { name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' },
        { name: 'rkt-ts.dev/stage1/run-module-version', value: '2' },
      ]),
    );
    expect(two.module).toEqual({ unusable: 'its rkt-ts.dev/stage1/run-module-version "2" is not supported (supported: 1)' });
    const none = stage1RunEntrypoints(podWith([{ name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' }]));
    expect(none.module).toEqual({ unusable: 'its rkt-ts.dev/stage1/run-module-version "" is not supported (supported: 1)' });
  });
});

describe('runPod of a pod prepared by another rkt-ts', () => {
  it('refuses a stage1 whose interface version this stage0 does not drive in one line, and leaves the pod prepared', async () => {
    const { runPod } = await import('../src/index.js');
    const uuid = '6a1b2c3d-0000-4000-8000-0000000000f5';
    const dataDir = join(dir, 'data');
    const prepared = join(dataDir, 'pods', 'prepared', uuid);
    mkdirSync(join(prepared, 'stage1'), { recursive: true });
    mkdirSync(join(dataDir, 'pods', 'run'));
    // A newer rkt-ts's (or a dropped older) interface version; prepare refuses such a stage1, so only a pod
    // another rkt-ts prepared has one.
    const annotations = [
      { name: 'coreos.com/rkt/stage1/run', value: '/s1/run' },
      { name: 'coreos.com/rkt/stage1/interface-version', value: '9' },
    ];
    writeFileSync(join(prepared, 'stage1', 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/stage1', annotations }));
    await expect(runPod({ dataDir, uuid })).rejects.toMatchObject({
      code: 'POD_STAGE1',
      message: `the stage1 of pod ${uuid} (example.com/stage1): stage1 interface version "9" is not supported (supported: 1, 2, 3, 4, 5)`,
    });
    expect(existsSync(prepared)).toBe(true);
    // Not left locked either: another rkt may take it (or rm it).
    const fd = tryLockDir(prepared);
    expect(fd).toBeDefined();
    unlock(fd!);
  });
});

describe('loadRunModule and runModuleInPodDir', () => {
  it('runs the module in the pod directory with the lock handle, gives the working directory back, and resolves with its status', async () => {
    const path = module(
      'run',
      'exports.run = async (args, ctx) => { exports.seen = { args, lockFd: ctx.lockFd, pipe: ctx.pipe(), cwd: process.cwd() }; return 42; };',
    );
    const loaded = loadRunModule(path);
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const pod = podWith([]);
    const before = process.cwd();
    // The context is the module's as given: the lock, and whatever stage0 offers besides (here a pipe()).
    expect(await runModuleInPodDir(loaded.module, pod, ['--debug', 'UUID'], { lockFd: 7, pipe: () => [8, 9] })).toBe(42);
    expect(process.cwd()).toBe(before);
    const { seen } = createRequire(path)(path) as { seen: unknown };
    expect(seen).toEqual({ args: ['--debug', 'UUID'], lockFd: 7, pipe: [8, 9], cwd: pod });
  });

  it('gives the working directory back when the module rejects', async () => {
    const loaded = loadRunModule(module('failing', 'exports.run = async () => { throw new Error("no pod today"); };'));
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const before = process.cwd();
    await expect(runModuleInPodDir(loaded.module, podWith([]), ['UUID'], { lockFd: 3 })).rejects.toThrow('no pod today');
    expect(process.cwd()).toBe(before);
  });

  it('calls a module unusable, with the reason, when it is missing, throws while loading or exports no run', () => {
    expect(loadRunModule(join(dir, 'missing'))).toEqual({ unusable: expect.stringMatching(/^it does not load: Cannot find module /) });
    expect(loadRunModule(module('throws', 'throw new Error("broken stage1");'))).toEqual({ unusable: 'it does not load: broken stage1' });
    expect(loadRunModule(module('syntax', 'this is not javascript'))).toEqual({ unusable: expect.stringMatching(/^it does not load: Unexpected identifier/) });
    expect(loadRunModule(module('norun', 'exports.start = () => 0;'))).toEqual({ unusable: 'it exports no run function' });
  });
});

describe('the gc module (rkt-ts.dev/stage1/gc-module)', () => {
  const gcAnnotations = (version: string) => [
    { name: 'coreos.com/rkt/stage1/gc', value: '/s1/gc' },
    { name: 'rkt-ts.dev/stage1/gc-module', value: '/s1/gc' },
    { name: 'rkt-ts.dev/stage1/gc-module-version', value: version },
  ];

  it('stage1GcEntrypoints names the gc executable and a module of a supported version, or why not', () => {
    const rootfs = (p: string) => join(dir, 'pod', 'stage1', 'rootfs', p);
    expect(stage1GcEntrypoints(podWith([{ name: 'coreos.com/rkt/stage1/gc', value: '/s1/gc' }]))).toEqual({ executable: rootfs('s1/gc'), module: undefined });
    expect(stage1GcEntrypoints(podWith(gcAnnotations('1')))).toEqual({ executable: rootfs('s1/gc'), module: { path: rootfs('s1/gc') } });
    expect(stage1GcEntrypoints(podWith(gcAnnotations('3'))).module).toEqual({
      unusable: 'its rkt-ts.dev/stage1/gc-module-version "3" is not supported (supported: 1)',
    });
  });

  /** A pod in garbage/ whose stage1 gc (module and executable) is the given source. */
  function garbagePod(version: string, source: string): { dataDir: string; uuid: string; pod: string; marker: string } {
    const uuid = '6a1b2c3d-0000-4000-8000-000000000001';
    return { ...podWithEntrypoint('garbage', uuid, 'gc', version, source), uuid, marker: join(dir, 'gc-marker') };
  }

  const recordingGc = (marker: string) =>
    `exports.gc = async (args, ctx) => { fs.writeFileSync(${JSON.stringify(marker)}, JSON.stringify({ pid: process.pid, args, podDir: ctx.podDir, podExists: fs.existsSync(ctx.podDir), umount: typeof ctx.umount })); };`;

  it('rkt gc calls a usable module in its own process, with the executable\'s arguments and the pod directory, then removes the pod', async () => {
    const { dataDir, uuid, pod, marker } = garbagePod('1', recordingGc(join(dir, 'gc-marker')));
    const released: string[] = [];
    expect(await deleteGarbagePod({ dataDir, debug: true, store: { releasePod: async (u: string) => (released.push(u), true), extendPodDirs: async () => false } }, uuid)).toBe('deleted');
    // With this process's umount2(2) (the addon is built for the tests), which the module's bundle lacks.
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toEqual({ pid: process.pid, args: ['--debug', uuid], podDir: pod, podExists: true, umount: 'function' });
    expect(existsSync(pod)).toBe(false);
    expect(released).toEqual([uuid]);
  });

  it('executes the gc entrypoint instead when the module is of an unsupported version, and says why under --debug', async () => {
    const { dataDir, uuid, pod, marker } = garbagePod('2', recordingGc(join(dir, 'gc-marker')));
    const said: string[] = [];
    expect(await deleteGarbagePod({ dataDir, store: { releasePod: async () => true, extendPodDirs: async () => false }, log: (m) => said.push(m) }, uuid)).toBe('deleted');
    const seen = JSON.parse(readFileSync(marker, 'utf8')) as { pid: number; args: string[]; podDir: string };
    expect(seen.pid).not.toBe(process.pid);
    expect(seen).toMatchObject({ args: [uuid], podDir: pod });
    expect(said).toEqual([expect.stringContaining('not using the stage1 gc module: its rkt-ts.dev/stage1/gc-module-version "2" is not supported')]);
    expect(existsSync(pod)).toBe(false);
  });

  it('removes the pod anyway when the module rejects, and says so', async () => {
    const { dataDir, uuid, pod } = garbagePod('1', 'exports.gc = async () => { throw new Error("network teardown failed"); };');
    const said: string[] = [];
    expect(await deleteGarbagePod({ dataDir, store: { releasePod: async () => true, extendPodDirs: async () => false }, log: (m) => said.push(m) }, uuid)).toBe('deleted');
    expect(said).toEqual([`pod ${uuid}: stage1 gc module failed: network teardown failed; removing the pod anyway`]);
    expect(existsSync(pod)).toBe(false);
  });
});

describe('the stop module (rkt-ts.dev/stage1/stop-module)', () => {
  /**
   * A running pod (its directory in run/, locked here, its pid this process's: the stops here only record)
   * whose stage1 stop, module and executable, is `source`.
   */
  function runningPod(version: string, source: string): { dataDir: string; uuid: string; pod: string; lock: number } {
    const uuid = '6a1b2c3d-0000-4000-8000-000000000002';
    const { dataDir, pod } = podWithEntrypoint('run', uuid, 'stop', version, source);
    writeFileSync(join(pod, 'pid'), `${process.pid}\n`);
    const lock = tryLockDir(pod);
    if (lock === undefined) throw new Error('cannot lock the test pod');
    return { dataDir, uuid, pod, lock };
  }
  const recordingStop = (marker: string) =>
    `exports.stop = async (args, ctx) => { fs.writeFileSync(${JSON.stringify(marker)}, JSON.stringify({ pid: process.pid, args, podDir: ctx.podDir })); };`;

  it('rkt stop calls a usable module in its own process with the executable\'s arguments and the pod directory', async () => {
    const marker = join(dir, 'stop-marker');
    const { dataDir, uuid, pod, lock } = runningPod('1', recordingStop(marker));
    try {
      expect(await stopPod({ dataDir, uuid: uuid.slice(0, 8), force: true })).toEqual({ uuid, alreadyStopped: false });
    } finally {
      unlock(lock);
    }
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toEqual({ pid: process.pid, args: ['--force', uuid], podDir: pod });
  });

  it('waits for a starting pod to have a pid before stopping it, and stops nothing of a pod that ended before', async () => {
    const marker = join(dir, 'stop-marker');
    const starting = runningPod('1', recordingStop(marker));
    // Moved into run/ and locked, its stage1 not started yet: no pid for a while.
    rmSync(join(starting.pod, 'pid'));
    const started = setTimeout(() => writeFileSync(join(starting.pod, 'pid'), `${process.pid}\n`), 100);
    try {
      expect(await stopPod({ dataDir: starting.dataDir, uuid: starting.uuid, force: true })).toEqual({ uuid: starting.uuid, alreadyStopped: false });
    } finally {
      clearTimeout(started);
      unlock(starting.lock);
    }
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ args: ['--force', starting.uuid] });

    rmSync(join(dir, 'data'), { recursive: true, force: true });
    rmSync(marker);
    const ending = runningPod('1', recordingStop(marker));
    rmSync(join(ending.pod, 'pid'));
    // Its start failed: the runner let go of the lock without a stage1 ever writing a pid.
    const ended = setTimeout(() => unlock(ending.lock), 100);
    expect(await stopPod({ dataDir: ending.dataDir, uuid: ending.uuid })).toEqual({ uuid: ending.uuid, alreadyStopped: false });
    clearTimeout(ended);
    expect(existsSync(marker)).toBe(false);
  });

  it('finds a pod after its run (exited, exited garbage, garbage) stopped already and calls no stop; refuses a prepared pod', async () => {
    const marker = join(dir, 'stop-marker');
    for (const [stateDir, uuid] of [
      ['run', '6a1b2c3d-0000-4000-8000-000000000011'],
      ['exited-garbage', '6a1b2c3d-0000-4000-8000-000000000012'],
      ['garbage', '6a1b2c3d-0000-4000-8000-000000000013'],
    ] as const) {
      // Not locked: in run/ that is an exited pod.
      const { dataDir } = podWithEntrypoint(stateDir, uuid, 'stop', '1', recordingStop(marker));
      expect(await stopPod({ dataDir, uuid, force: true })).toEqual({ uuid, alreadyStopped: true });
    }
    expect(existsSync(marker)).toBe(false);
    const prepared = '6a1b2c3d-0000-4000-8000-000000000014';
    const { dataDir } = podWithEntrypoint('prepared', prepared, 'stop', '1', recordingStop(marker));
    await expect(stopPod({ dataDir, uuid: prepared })).rejects.toMatchObject({ code: 'POD_STATE', message: `pod ${prepared} is prepared, not running` });
    expect(existsSync(marker)).toBe(false);
  });

  it('executes the stop entrypoint when the module is unusable, and reports a module that rejects as the pod\'s stop failing', async () => {
    const marker = join(dir, 'stop-marker');
    const { dataDir, uuid, lock } = runningPod('7', recordingStop(marker));
    const said: string[] = [];
    try {
      await stopPod({ dataDir, uuid, log: (m) => said.push(m) });
    } finally {
      unlock(lock);
    }
    expect((JSON.parse(readFileSync(marker, 'utf8')) as { pid: number }).pid).not.toBe(process.pid);
    expect(said).toEqual([expect.stringContaining('not using the stage1 stop module: its rkt-ts.dev/stage1/stop-module-version "7" is not supported')]);

    rmSync(join(dir, 'data'), { recursive: true, force: true });
    const failing = runningPod('1', 'exports.stop = async () => { throw new Error("no such process group"); };');
    try {
      await expect(stopPod({ dataDir: failing.dataDir, uuid: failing.uuid })).rejects.toMatchObject({
        code: 'POD_STAGE1',
        message: `the stage1 stop of pod ${failing.uuid} failed: no such process group`,
      });
    } finally {
      unlock(failing.lock);
    }
  });
});

describe('the app modules (rkt-ts.dev/stage1/app-add-module, app-start-, app-stop-, app-rm-module)', () => {
  it('stage1AppEntrypoints names each app executable and its module of a supported version, or why not', () => {
    const rootfs = (p: string) => join(dir, 'pod', 'stage1', 'rootfs', p);
    const start = [{ name: 'coreos.com/rkt/stage1/app/start', value: '/s1/app-start' }];
    expect(stage1AppEntrypoints(podWith(start), 'appStart')).toEqual({ executable: rootfs('s1/app-start'), module: undefined });
    const annotated = (version: string) => [
      ...start,
      { name: 'rkt-ts.dev/stage1/app-start-module', value: '/s1/app-start' },
      { name: 'rkt-ts.dev/stage1/app-start-module-version', value: version },
    ];
    expect(stage1AppEntrypoints(podWith(annotated('1')), 'appStart')).toEqual({ executable: rootfs('s1/app-start'), module: { path: rootfs('s1/app-start') } });
    // Another kind's module is not this one's.
    expect(stage1AppEntrypoints(podWith(annotated('1')), 'appStop')).toEqual({ executable: undefined, module: undefined });
    expect(stage1AppEntrypoints(podWith(annotated('2')), 'appStart').module).toEqual({
      unusable: 'its rkt-ts.dev/stage1/app-start-module-version "2" is not supported (supported: 1)',
    });
  });

  it('loadAppModule calls the export with the arguments and environment, in the pod directory, and gives the working directory back even when it rejects', async () => {
    const pod = podWith([]);
    const path = module(
      'app-start',
      `exports.app = async (args, ctx) => { if (args[0] === '--fail') throw new Error('stage1 app/start: no such unit'); require('fs').writeFileSync('called', JSON.stringify({ args, podDir: ctx.podDir, pid1: ctx.env.RKT_STAGE1_ENTERPID, cwd: process.cwd() })); };`,
    );
    const loaded = loadAppModule(path);
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const before = process.cwd();
    await inDirectory(pod, () => loaded.module.app(['--app=web', '--uuid=u'], { podDir: pod, env: { RKT_STAGE1_ENTERPID: '42' } }));
    expect(process.cwd()).toBe(before);
    expect(JSON.parse(readFileSync(join(pod, 'called'), 'utf8'))).toEqual({ args: ['--app=web', '--uuid=u'], podDir: pod, pid1: '42', cwd: pod });
    await expect(inDirectory(pod, () => loaded.module.app(['--fail'], { podDir: pod, env: {} }))).rejects.toThrow('stage1 app/start: no such unit');
    expect(process.cwd()).toBe(before);
    expect(loadAppModule(module('app-stop', 'exports.stop = async () => {};'))).toEqual({ unusable: 'it exports no app function' });
  });

  it("loadAppModule gives the app-add module's optional check, whose throw is a rejection with its line, and none when it exports none", async () => {
    const loaded = loadAppModule(module('app-add', "exports.app = async () => {};\nexports.check = (app, ctx) => { if (app.name !== 'ok') throw new Error(`stage1 app/add: app ${app.name}: no (${ctx.uuid}, ${ctx.insecure.capabilities})`); };"));
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const check = loaded.module.check!;
    const context = { podDir: dir, uuid: 'u', insecure: { capabilities: true, paths: false, seccomp: false } };
    const app = (name: string) => ({ name, image: { name: 'example.com/x', id: `sha512-${'0'.repeat(128)}` }, app: { exec: ['/x'], user: '0', group: '0' } });
    await expect(check(app('ok'), context)).resolves.toBeUndefined();
    await expect(check(app('big'), context)).rejects.toThrow('stage1 app/add: app big: no (u, true)');
    const older = loadAppModule(module('app-add-older', 'exports.app = async () => {};'));
    expect('module' in older && older.module.check).toBe(undefined);
  });
});
