// Crash safety of `rkt app add` (RKT_EXPERIMENT_APP) on a running sandbox of the systemd stage1: killed with
// SIGKILL at each of its renames in turn (strace's fault injection, as kill-sweep.ts kills: the signal comes on
// entry, so the rename itself never runs), the pod manifest, stage0's record and the app's directory are left as
// they were at that point. After each kill a user's commands must all work on the pod: `rkt app list` and
// `rkt status`, `rkt app status` and `rkt app rm` of the app when it is listed, then a new `rkt app add` of the
// same name, whose app starts, writes into its volume and is removed, leaving no mount, directory or temp file of
// it; at the end `rkt stop` and `rkt gc` leave nothing of the pod.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rktBin, type RktEnv, type RktResult } from '../pods/harness.js';
import { expectNothingLeft, systemdPodTests } from '../systemd/harness.js';
import { withAppExperimentAndStrace } from './kill-sweep.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Every rkt of this file, the traced ones too, runs with the experiment on.
withAppExperimentAndStrace();

const RENAMES = ['rename', 'renameat', 'renameat2'];

/**
 * `rkt ARGS` under strace, its main thread only (where stage0 writes the pod's files: without -f no other
 * thread nor child is traced), optionally killed on entering its Nth rename(2). Resolves with strace's lines of
 * the renames, and whether the kill happened; waits for rkt's process group to be gone.
 */
async function traced(env: RktEnv, args: readonly string[], killAt?: number): Promise<{ renames: string[]; killed: boolean; result: RktResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-app-kill-'));
  const trace = join(dir, 'trace');
  try {
    const inject = killAt !== undefined ? ['-e', `inject=rename:signal=SIGKILL:when=${killAt}`] : [];
    const child = spawn('strace', ['-qq', '-s', '4096', '-o', trace, '-e', `trace=${RENAMES.join(',')}`, ...inject, '--', rktBin, ...env.args(args)], { cwd: env.tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const status = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    for (let i = 0; i < 500 && groupAlive(child.pid!); i++) await sleep(20);
    const lines = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n') : [];
    return {
      renames: lines.filter((l) => RENAMES.some((r) => l.startsWith(`${r}(`))),
      killed: lines.some((l) => l.startsWith('+++ killed by SIGKILL')),
      result: { status, stdout, stderr },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('kill -9 of rkt app add at each of its renames (systemd sandbox)', () => {
  it('leaves a pod that rkt app list/status/rm, a new rkt app add, rkt stop and rkt gc all handle', async () => {
    const { env, aci } = pods;
    // The image in the store first, as rkt's app add wanted it.
    const fetched = env.run(['fetch', aci]);
    expect(fetched.status, fetched.stderr).toBe(0);
    const uuidFile = join(env.tmp, 'sandbox-uuid');
    const sandbox = env.start(['app', 'sandbox', `--stage1-path=${env.stage1!.aci}`, `--uuid-file-save=${uuidFile}`]);
    const { uuid } = await env.waitRunning();
    const podDir = join(env.dataDir, 'pods', 'run', uuid);
    const shared = join(env.tmp, 'shared');
    mkdirSync(shared);
    const add = ['app', 'add', uuid, 'example.com/busybox', '--name=web', '--exec=/bin/sh', `--mnt-volume=name=data,kind=host,source=${shared},target=/data`, '--', '-c', 'echo "$$" > /data/ran; exec sleep 100'];
    const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
    const listed = (where: string): string[] => ok(`${where}: rkt app list`, env.run(['app', 'list', '--no-legend', uuid])).stdout.split('\n').filter((l) => l !== '');
    const manifestApps = (): string[] => (JSON.parse(readFileSync(join(podDir, 'pod'), 'utf8')) as { apps: { name: string }[] }).apps.map((a) => a.name);
    const recordApps = (): string[] => (JSON.parse(readFileSync(join(podDir, 'pod-info.json'), 'utf8')) as { apps: { name: string }[] }).apps.map((a) => a.name);
    const webMounts = (): string[] => env.mounts().filter((m) => m.includes('/appsinfo/web'));
    // The apps as every command names them: `rkt app list`'s, `rkt status`'s and `rkt list`'s must be the same
    // (the pod manifest's, as rkt read it), whatever a kill left of the manifest and the record.
    const agreed = (where: string): string[] => {
      const names = listed(where).map((l) => l.split('\t')[0]!);
      const status = JSON.parse(ok(`${where}: rkt status`, env.run(['status', '--format=json', uuid])).stdout) as { app_names: string[] };
      const pods = JSON.parse(ok(`${where}: rkt list`, env.run(['list', '--format=json'])).stdout) as { name: string; app_names: string[] }[];
      expect(status.app_names, `${where}: rkt status's apps against rkt app list's`).toEqual(names);
      expect(pods.find((p) => p.name === uuid)?.app_names, `${where}: rkt list's apps against rkt app list's`).toEqual(names);
      return names;
    };

    // The renames of a whole add, from a traced run; then the app goes again. A first add before it, so that
    // the CLI's code cache (written on a command's first run) is there: every later add makes the same renames.
    ok('the first rkt app add', env.run(add));
    ok('rkt app rm after the first add', env.run(['app', 'rm', uuid, '--app=web']));
    const whole = await traced(env, add);
    ok('the traced rkt app add', whole.result);
    expect(whole.renames.filter((l) => !l.includes(env.dataDir)), 'renames outside the data directory').toEqual([]);
    if (process.env.RKT_KILL_SWEEP_LOG !== undefined) console.log(whole.renames.join('\n'));
    expect(whole.renames.length, whole.renames.join('\n')).toBeGreaterThanOrEqual(2);
    // The pod manifest and stage0's record among them: the two files a kill between could set at odds.
    expect(whole.renames.some((l) => /\/\.pod\.[0-9]+\.[a-z0-9]*\.tmp", "[^"]*\/pod"/.test(l)), whole.renames.join('\n')).toBe(true);
    expect(whole.renames.some((l) => /\/pod-info\.json"/.test(l)), whole.renames.join('\n')).toBe(true);
    ok('rkt app rm after the traced add', env.run(['app', 'rm', uuid, '--app=web']));

    const failures: string[] = [];
    for (let n = 1; n <= whole.renames.length; n++) {
      const where = `killed at rename ${n} (${whole.renames[n - 1]})`;
      try {
        const k = await traced(env, add, n);
        expect(k.killed, `${where}: not killed (exit ${k.result.status}: ${k.result.stderr})`).toBe(true);
        // What the kill left, as a user's commands see it: the app not there, or there as an add that did not
        // finish (adding: its stage1 never ran app/add), which rkt app rm removes.
        agreed(where);
        const apps = listed(where);
        expect([[], ['web\tadding']], `${where}: rkt app list`).toContainEqual(apps);
        // Never an app in stage0's record that the manifest (what the app commands name) lacks.
        expect(recordApps().filter((a) => !manifestApps().includes(a)), `${where}: apps of the record alone`).toEqual([]);
        if (apps.length > 0) {
          expect(ok(`${where}: rkt app status`, env.run(['app', 'status', uuid, '--app=web'])).stdout).toMatch(/^name=web\nstate=adding\n/);
          ok(`${where}: rkt app rm`, env.run(['app', 'rm', uuid, '--app=web']));
          expect(webMounts(), `${where}: mounts after rkt app rm`).toEqual([]);
        }
        // Added again, it runs and is removed, and nothing of it or of the killed add is left.
        rmSync(join(shared, 'ran'), { force: true });
        ok(`${where}: the next rkt app add`, env.run(add));
        expect(listed(where), `${where}: rkt app list after the next add`).toEqual(['web\tcreated']);
        ok(`${where}: rkt app start`, env.run(['app', 'start', uuid, '--app=web']));
        for (let i = 0; i < 200 && !existsSync(join(shared, 'ran')); i++) await sleep(50);
        expect(existsSync(join(shared, 'ran')), `${where}: the app added again never ran`).toBe(true);
        expect(listed(where), `${where}: rkt app list of the app started`).toEqual(['web\trunning']);
        ok(`${where}: rkt app rm of the app started`, env.run(['app', 'rm', uuid, '--app=web']));
        expect(listed(where), `${where}: rkt app list after rm`).toEqual([]);
        expect([manifestApps(), recordApps()], `${where}: manifest and record`).toEqual([[], []]);
        expect(webMounts(), `${where}: mounts`).toEqual([]);
        expect(existsSync(join(podDir, 'appsinfo', 'web')), `${where}: the app's directory`).toBe(false);
        expect(readdirSync(podDir).filter((f) => f.endsWith('.tmp')), `${where}: temp files`).toEqual([]);
      } catch (err) {
        failures.push((err as Error).message.split('\n').slice(0, 8).join('\n'));
        // The next point starts without the app, whatever this one left.
        env.run(['app', 'rm', uuid, '--app=web']);
      }
    }
    expect(failures).toEqual([]);

    // A last kill, between the manifest and the record, left as it is for the pod's stop and gc.
    const between = whole.renames.findIndex((l) => /\/pod-info\.json"/.test(l)) + 1;
    expect((await traced(env, add, between)).killed).toBe(true);
    expect(listed('before the stop')).toEqual(['web\tadding']);
    expect(recordApps(), 'the record after the kill between the manifest and the record').toEqual([]);
    expect(agreed('killed between the manifest and the record')).toEqual(['web']);
    // rkt enter finds the app too (whatever its stage1 then makes of an app never loaded into the pod's systemd).
    expect(env.run(['enter', '--app=web', uuid, '/bin/true']).stderr, 'rkt enter --app=web').not.toContain('is not in pod');
    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    expect(env.status(uuid).state).toBe('exited');
    expectNothingLeft(env, uuid);
  }, 600_000);
});
