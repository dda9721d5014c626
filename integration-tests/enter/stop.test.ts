// `rkt stop` of systemd pods: a clean poweroff (each app gets SIGTERM from its unit, its post-stop
// handler runs, the pod ends and rkt run returns), and --force for an app that ignores SIGTERM.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RktEnv } from '../pods/harness.js';
import { buildEnterImage, cleanUp, dropStage1Snapshot, ensureStage1sBuilt, podCgroups, podProcesses, STAGE1S } from './pods.js';

let env: RktEnv;

beforeAll(() => ensureStage1sBuilt(), 600_000);
afterAll(() => dropStage1Snapshot());
beforeEach(() => {
  env = new RktEnv();
  env.seedStage1(STAGE1S.systemd);
});
afterEach(() => cleanUp(env));

/** Nothing of the pod is left once it has ended and gc has run. */
function expectGone(uuid: string): void {
  expect(podProcesses(uuid)).toEqual([]);
  expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
  expect(podCgroups([uuid])).toEqual([]);
  expect(env.mounts()).toEqual([]);
  expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
}

describe('rkt stop (stage1-systemd)', () => {
  it('powers the pod off: the app gets SIGTERM, its post-stop handler runs, the pod ends', async () => {
    // The handler runs in the app's root: its file lands in the app's overlay, kept until gc.
    const aci = await buildEnterImage(env.tmp, [{ name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post-stop ran > /post-stop'] }]);
    const { child, done } = env.start([
      'run',
      `--stage1-path=${STAGE1S.systemd}`,
      aci,
      '--exec',
      '/bin/sh',
      '--',
      '-c',
      // wait returns at once on a trapped signal (a foreground sleep would delay the trap).
      "trap 'echo got SIGTERM; exit 0' TERM; echo up; sleep 1000 & wait",
    ]);
    const { uuid } = await env.waitRunning();
    // Stop once the app has printed "up", so that its trap is set.
    await printed(child, 'up\n');
    const upper = join(env.dataDir, 'pods', 'run', uuid, 'appsinfo', 'busybox', 'rootfs');

    const stop = env.run(['stop', uuid]);
    expect(stop).toEqual({ status: 0, stdout: `"${uuid}"\n`, stderr: '' });
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('up\ngot SIGTERM\n');
    expect(env.status(uuid).state).toBe('exited');
    expect(readFileSync(join(upper, 'post-stop'), 'utf8')).toBe('post-stop ran\n');
    expectGone(uuid);
  }, 90_000);

  it('an app that SIGTERM ends records 143, which rkt run returns', async () => {
    const aci = await buildEnterImage(env.tmp);
    const { done } = env.start(['run', `--stage1-path=${STAGE1S.systemd}`, aci, '--exec', '/bin/sleep', '--', '1000']);
    const { uuid } = await env.waitRunning();
    expect(env.run(['stop', uuid]).status).toBe(0);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(143);
    expect(env.status(uuid).apps).toEqual([expect.objectContaining({ name: 'busybox', exit_code: 143 })]);
    expectGone(uuid);
  }, 90_000);

  it('--force ends a pod whose app ignores SIGTERM at once, where a plain stop waits out the stop grace', async () => {
    const aci = await buildEnterImage(env.tmp);
    const { child, done } = env.start(['run', `--stage1-path=${STAGE1S.systemd}`, aci, '--exec', '/bin/sh', '--', '-c', "trap '' TERM; echo up; exec sleep 1000"]);
    let finished = false;
    void done.then(() => (finished = true));
    const { uuid } = await env.waitRunning();
    await printed(child, 'up\n');

    expect(env.run(['stop', uuid]).status).toBe(0);
    // systemd waits the unit's stop grace (TimeoutStopSec=5s) before SIGKILL: still running after 1.5 s.
    await new Promise((r) => setTimeout(r, 1500));
    expect(finished).toBe(false);
    expect(env.status(uuid).state).toBe('running');

    expect(env.run(['stop', '--force', uuid])).toEqual({ status: 0, stdout: `"${uuid}"\n`, stderr: '' });
    const r = await done;
    expect(r.stdout).toBe('up\n');
    expect(r.status).not.toBe(0);
    expect(env.status(uuid).state).toBe('exited');
    expectGone(uuid);
  }, 90_000);

  it('stop of a pod that has exited says it is stopped already and exits 0, as rkt 1.30', async () => {
    const aci = await buildEnterImage(env.tmp);
    const r = env.run(['run', `--stage1-path=${STAGE1S.systemd}`, aci, '--exec', '/bin/true']);
    expect(r.status).toBe(0);
    const uuid = (JSON.parse(env.run(['list', '--format=json']).stdout) as Array<{ name: string }>)[0]?.name as string;
    expect(env.run(['stop', uuid])).toEqual({ status: 0, stdout: `pod "${uuid}" is already stopped\n`, stderr: '' });
  }, 90_000);
});

/** Resolves once the child's stdout has shown `text`. */
function printed(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (seen.includes(text)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
  });
}
