// rkt stop under the systemd stage1, as a user sees it: a stop ends the pod promptly even when an app
// ignores SIGTERM (SIGTERM first, SIGKILL to what is left after a short grace), and every app of a stopped
// pod has a status in `rkt status` and its JSON, however early the stop came: while the pod's systemd
// boots, while an app's pre-start handler runs, before nspawn was even started. --force reports every app
// killed (137), whether or not its process had got as far as connecting its output.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { RktEnv, type RktResult } from '../pods/harness.js';
import { expectNothingLeft as expectPodGone, systemdPodTests, writePodManifest } from './harness.js';

const pods = systemdPodTests();
let env: RktEnv;
let aci: string;
beforeEach(() => ({ env, aci } = pods));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `rkt status` of a pod: its app lines, and each app's exit code from --format=json, which must agree. */
function appStatuses(uuid: string): Record<string, number | undefined> {
  const text = env.run(['status', uuid]).stdout.split('\n').filter((l) => l.startsWith('app-'));
  const json = env.status(uuid);
  expect(json.state).toBe('exited');
  const fromJson = Object.fromEntries(json.apps.map((a) => [a.name, a.exit_code]));
  expect(text.sort()).toEqual(
    Object.entries(fromJson)
      .filter(([, code]) => code !== undefined)
      .map(([name, code]) => `app-${name}=${code}`)
      .sort(),
  );
  return fromJson;
}

const expectNothingLeft = (uuid: string): void => expectPodGone(env, uuid);

/** The UUID of the one pod of this test once it is in the run directory (running, maybe not booted). */
async function podInRunDir(timeoutMs = 20_000): Promise<string> {
  const dir = join(env.dataDir, 'pods', 'run');
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(2)) {
    const found = spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.trim();
    if (found !== '') return found.split('\n')[0] as string;
  }
  throw new Error('no pod came to the run directory');
}

/** A pod manifest of the busybox image: `slow` is still in its pre-start handler for 100 s, `plain` runs. */
function slowStartManifest(): string {
  expect(env.run(['fetch', aci]).status).toBe(0);
  const image = { name: 'example.com/busybox' };
  const slowPreStart = { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre-start; exec sleep 100'] };
  return writePodManifest(env.tmp, [
    { name: 'slow', image, app: { exec: ['/bin/sleep', '100'], user: '0', group: '0', eventHandlers: [slowPreStart] } },
    { name: 'plain', image, app: { exec: ['/bin/sh', '-c', 'echo plain; exec sleep 100'], user: '0', group: '0' } },
  ]);
}

/** Starts `rkt run` and resolves once its output has every line of `ready`. */
function startUntil(args: string[], ready: string[]): { done: Promise<RktResult>; up: Promise<void> } {
  const { child, done } = env.start(args);
  let out = '';
  const up = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.every((l) => out.split('\n').includes(l))) resolve();
    });
    void done.then((r) => reject(new Error(`rkt run ended before its apps were up: ${JSON.stringify(r)}`)));
  });
  return { done, up };
}

describe('rkt stop (stage1-systemd)', () => {
  it('stops an app that ignores SIGTERM and leaves a process behind: SIGTERM, then SIGKILL after a short grace', async () => {
    // The shell notes the SIGTERM and carries on; its child ignores it altogether.
    const script = 'trap "echo got TERM" TERM; (trap "" TERM; exec sleep 1000) & echo up; while :; do sleep 1; done';
    const { done, up } = startUntil(['run', aci, '--exec=/bin/sh', '--', '-c', script], ['up']);
    await up;
    const uuid = await podInRunDir();
    const stoppedAt = Date.now();
    expect(env.run(['stop', uuid]).status).toBe(0);
    const r = await done;
    // systemd's default stop timeout alone was 90 s; generous for a loaded 2-core machine.
    expect(Date.now() - stoppedAt).toBeLessThan(20_000);
    expect(r.stdout).toBe('up\ngot TERM\n');
    // Only the app's own shell, on its `sleep 1` that the SIGTERM ended.
    expect(r.stderr.split('\n').filter((l) => l !== '' && l !== 'Terminated')).toEqual([]);
    expect(r.status).toBe(137);
    expect(appStatuses(uuid)).toEqual({ busybox: 137 });
    expectNothingLeft(uuid);
  });

  it('records every app of a pod stopped while one is still in its pre-start handler, with rkt stop and with --force', async () => {
    const manifest = slowStartManifest();
    for (const [flags, code] of [[[], 143], [['--force'], 137]] as const) {
      const { done, up } = startUntil(['run', `--pod-manifest=${manifest}`], ['pre-start', 'plain']);
      await up;
      const uuid = await podInRunDir();
      expect(env.run(['stop', ...flags, uuid]).status).toBe(0);
      const r = await done;
      expect(r.status).toBe(code);
      // `slow` never ran its exec: it reports the stop's signal, as `plain`, which it reached.
      expect(appStatuses(uuid)).toEqual({ slow: code, plain: code });
      expectNothingLeft(uuid);
    }
  });

  it('records every app of a pod stopped as soon as it is running, before nspawn may have started, with rkt stop and with --force', async () => {
    for (const [flags, code] of [[[], 143], [['--force'], 137]] as const) {
      const { done } = env.start(['run', aci, '--name=one', '--exec=/bin/sleep', '--', '100', '---', aci, '--name=two', '--exec=/bin/sleep', '--', '100']);
      const uuid = await podInRunDir();
      // The stop finds no nspawn to signal when it comes during the run entrypoint's set-up: it must not be lost.
      const stop = env.run(['stop', ...flags, uuid]);
      expect(stop.stderr).toBe('');
      expect(stop.status).toBe(0);
      const r = await done;
      expect(r.status).toBe(code);
      expect(appStatuses(uuid)).toEqual({ one: code, two: code });
      expectNothingLeft(uuid);
    }
  });

  it('--force reports the app killed (137) however far its start had come', async () => {
    // Stops at several points of the pod's start: while systemd boots, while the app's unit sets its process
    // up (before it connects its output, which is what tells the run entrypoint that it started), after.
    for (const delayMs of [0, 60, 120, 200, 400]) {
      const { done } = env.start(['run', aci, '--exec=/bin/sleep', '--', '100']);
      const uuid = await podInRunDir();
      const ppid = join(env.dataDir, 'pods', 'run', uuid, 'ppid');
      for (const end = Date.now() + 20_000; !existsSync(ppid) && Date.now() < end; ) await sleep(2);
      await sleep(delayMs);
      expect(env.run(['stop', '--force', uuid]).status).toBe(0);
      const r = await done;
      expect(r.status, `stopped ${delayMs} ms after nspawn started: ${r.stderr}`).toBe(137);
      // The kill is rkt's own doing: nspawn's word for a child killed during the boot is not shown.
      expect(r.stderr).not.toContain('Child died too early');
      expect(appStatuses(uuid)).toEqual({ busybox: 137 });
      expectNothingLeft(uuid);
    }
  });
});
