// `rkt app rm` whose stage0 alone is killed (kill -9 of rkt, not of its group) while its stage1's app/rm works:
// the child runs on and removes the app's units, and stage0 never drops the app from the manifest. A user then
// sees the app as `removing` (`rkt app list`, `rkt app status`), `rkt app start` and `rkt app stop` of it are
// refused in one line that says to finish the rm (rkt 1.30 failed in its stage1's systemctl), and a second `rkt app
// rm` removes it; a new add of the name runs. No strace: the kill is the test's own, once the child is seen.
// The sandbox's stage1 manifest is stripped of its app modules (fetchedSandbox's appModules: false), so that
// stage0 executes app/rm in a process of its own, as rkt's stage0 and a stage1 without modules have it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RktResult } from '../pods/harness.js';
import { expectNothingLeft, fetchedSandbox, systemdPodTests } from '../systemd/harness.js';
import { childrenOf, withExperiments } from './kill-sweep.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
withExperiments('RKT_EXPERIMENT_APP');

describe('kill -9 of rkt app rm\'s stage0 alone, its stage1 app/rm running on (systemd sandbox)', () => {
  it('the app is shown as removing, app start and stop say to finish the rm, and a second rm removes it', async () => {
    const { env, aci } = pods;
    const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
    const sandbox = await fetchedSandbox(env, aci, { appModules: false });
    const { uuid, podDir } = sandbox;
    const webUnits = (): string[] => readdirSync(join(podDir, 'stage1-units')).filter((u) => u.includes('web'));
    const listed = (): string => ok('rkt app list', env.run(['app', 'list', '--no-legend', uuid])).stdout;
    ok('rkt app add', env.run(['app', 'add', uuid, 'example.com/busybox', '--name=web', '--exec=/bin/sleep', '--', '100']));
    ok('rkt app start', env.run(['app', 'start', uuid, '--app=web']));
    expect(listed()).toBe('web\trunning\n');
    expect(webUnits().length, 'the app has units').toBeGreaterThan(0);

    // rkt app rm, its stage0 killed once its stage1's app/rm runs; the app/rm then runs to its end.
    const rm = env.start(['app', 'rm', uuid, '--app=web']);
    let child: { pid: number; cmdline: string } | undefined;
    for (let i = 0; i < 600 && child === undefined; i++) {
      child = childrenOf(rm.child.pid!).find((c) => c.cmdline.includes('/rkt/app-rm'));
      if (child === undefined) await sleep(5);
    }
    expect(child, 'the stage1 app/rm started by rkt app rm').toBeDefined();
    rm.child.kill('SIGKILL');
    expect((await rm.done).status).toBe(null);
    for (let i = 0; i < 600 && existsSync(`/proc/${child!.pid}`); i++) await sleep(50);
    expect(existsSync(`/proc/${child!.pid}`), 'the stage1 app/rm ended').toBe(false);
    expect(webUnits(), 'the app\'s units, removed by the app/rm that ran on').toEqual([]);

    // What a user sees: the app still in the pod, removing.
    expect(listed()).toBe('web\tremoving\n');
    expect(ok('rkt app status', env.run(['app', 'status', uuid, '--app=web'])).stdout).toMatch(/^name=web\nstate=removing\n/);
    const json = JSON.parse(ok('rkt app list --format=json', env.run(['app', 'list', '--format=json', uuid])).stdout) as { name: string; state: string }[];
    expect(json.map((a) => [a.name, a.state])).toEqual([['web', 'removing']]);
    // Start and stop refused in one line, naming the rm that finishes it; nothing changed.
    for (const verb of ['start', 'stop']) {
      const r = env.run(['app', verb, uuid, '--app=web']);
      expect(r.status, `rkt app ${verb}: ${r.stderr}`).toBe(254);
      expect(r.stderr.trim().split('\n'), `rkt app ${verb}'s refusal`).toHaveLength(1);
      expect(r.stderr).toContain(`cannot ${verb} app "web": an "rkt app rm" of it did not finish`);
      expect(r.stderr).toContain(`rkt app rm ${uuid} --app=web`);
      expect(listed(), `after rkt app ${verb}`).toBe('web\tremoving\n');
    }
    // A second rm finishes it: gone from every listing, nothing of it left.
    ok('the second rkt app rm', env.run(['app', 'rm', uuid, '--app=web']));
    expect(listed()).toBe('');
    expect(existsSync(join(podDir, 'appsinfo', 'web')), 'the app\'s directory').toBe(false);
    expect(env.mounts().filter((m) => m.includes('/appsinfo/web')), 'the app\'s mounts').toEqual([]);
    // The name is free again: an app added under it starts and runs.
    ok('rkt app add again', env.run(['app', 'add', uuid, 'example.com/busybox', '--name=web', '--exec=/bin/sleep', '--', '100']));
    expect(listed()).toBe('web\tcreated\n');
    ok('rkt app start again', env.run(['app', 'start', uuid, '--app=web']));
    expect(listed()).toBe('web\trunning\n');

    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    expectNothingLeft(env, uuid);
  }, 300_000);
});
