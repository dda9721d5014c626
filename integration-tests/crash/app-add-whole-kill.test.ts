// `rkt app add` killed whole (kill -9 of rkt and of all it runs: its stage1 app/add, in its process or its own) once the process
// running the sandbox serves the app's streams, before the app/add writes the app's unit: stage0 runs no undo, so
// the app stays in the manifest without its units. A user then sees it as `adding` (`rkt app list`, `rkt app
// status`), `rkt app start` and `rkt app stop` of it are refused in one line that says to `rkt app rm` it (rkt 1.30
// and rkt-ts before failed in the stage1: "was not added to the pod"), and `rkt app rm` removes it, its sockets
// and endpoints with it; a new add of the name is served and attached to. No strace: the kill is the test's own,
// once the app's endpoints are seen.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RktResult } from '../pods/harness.js';
import { expectNothingLeft, fetchedSandbox, systemdPodTests } from '../systemd/harness.js';
import { childrenOf, withExperiments } from './kill-sweep.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
withExperiments('RKT_EXPERIMENT_APP', 'RKT_EXPERIMENT_ATTACH');

/** `pid` and every process under it, parents first. */
function withDescendants(pid: number): number[] {
  return [pid, ...childrenOf(pid).flatMap((c) => withDescendants(c.pid))];
}

describe('kill -9 of rkt app add whole once the app\'s streams are served (systemd sandbox)', () => {
  it('the app is shown as adding, app start and stop say to rkt app rm it, and rkt app rm removes it', async () => {
    const { env, aci } = pods;
    const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
    const sandbox = await fetchedSandbox(env, aci);
    const { uuid, podDir } = sandbox;
    const add = ['app', 'add', uuid, 'example.com/busybox', '--name=talk', '--stdin=stream', '--stdout=stream', '--exec=/bin/sh', '--', '-c', 'while read x; do [ "$x" = quit ] && break; echo "got $x"; done; echo bye'];
    const listed = (): string => ok('rkt app list', env.run(['app', 'list', '--no-legend', uuid])).stdout;
    /** What the pod directory holds of the app's streams: its sockets in stage1-io, its attach directory. */
    const served = (): string[] => [
      ...readdirSync(join(podDir, 'stage1-io')).filter((f) => f.startsWith('talk.')).map((f) => `stage1-io/${f}`),
      ...(existsSync(join(podDir, 'stage1-attach', 'talk')) ? ['stage1-attach/talk'] : []),
    ];

    // The add, killed whole as soon as the app's endpoints are served (the serve is answered once they are).
    const adding = env.start(add);
    const endpoints = join(podDir, 'stage1-attach', 'talk', 'endpoints');
    for (let i = 0; i < 20_000 && !existsSync(endpoints); i++) await sleep(1);
    expect(existsSync(endpoints), 'the app\'s endpoints, served for the add').toBe(true);
    // rkt and all it runs at that moment: the stage1's app/add (called in rkt's own process, or executed by it for a
    // stage1 without app modules) and what that runs, each stopped at once (SIGSTOP), then killed.
    const stage1 = withDescendants(adding.child.pid!);
    for (const sig of ['SIGSTOP', 'SIGKILL'] as const) {
      for (const pid of stage1) {
        try {
          process.kill(pid, sig);
        } catch {
          // Ended meanwhile.
        }
      }
    }
    expect((await adding.done).status, 'rkt app add, killed').toBe(null);
    for (let i = 0; i < 200 && stage1.some((pid) => existsSync(`/proc/${pid}`)); i++) await sleep(50);

    // What a user sees: the app in the pod, adding, whether or not the app/add wrote its unit before the kill.
    expect(listed()).toBe('talk\tadding\n');
    expect(ok('rkt app status', env.run(['app', 'status', uuid, '--app=talk'])).stdout).toMatch(/^name=talk\nstate=adding\n/);
    const json = JSON.parse(ok('rkt app list --format=json', env.run(['app', 'list', '--format=json', uuid])).stdout) as { name: string; state: string }[];
    expect(json.map((a) => [a.name, a.state])).toEqual([['talk', 'adding']]);
    // Start and stop refused in one line, naming the rm that removes it; nothing changed.
    for (const verb of ['start', 'stop']) {
      const r = env.run(['app', verb, uuid, '--app=talk']);
      expect(r.status, `rkt app ${verb}: ${r.stderr}`).toBe(254);
      expect(r.stderr.trim().split('\n'), `rkt app ${verb}'s refusal`).toHaveLength(1);
      expect(r.stderr).toContain(`cannot ${verb} app "talk": the "rkt app add" of it did not finish`);
      expect(r.stderr).toContain(`rkt app rm ${uuid} --app=talk`);
      expect(listed(), `after rkt app ${verb}`).toBe('talk\tadding\n');
    }
    // rkt app rm removes it: gone from every listing, its streams served no more, nothing of it left.
    ok('rkt app rm', env.run(['app', 'rm', uuid, '--app=talk']));
    expect(listed()).toBe('');
    for (let i = 0; i < 100 && served().length > 0; i++) await sleep(50);
    expect(served(), 'the app\'s sockets and endpoints after rkt app rm').toEqual([]);
    expect(existsSync(join(podDir, 'appsinfo', 'talk')), 'the app\'s directory').toBe(false);
    expect(env.mounts().filter((m) => m.includes('/appsinfo/talk')), 'the app\'s mounts').toEqual([]);

    // The name is free again: an app added under it is created, starts, and is attached to.
    ok('rkt app add again', env.run(add));
    expect(listed()).toBe('talk\tcreated\n');
    ok('rkt app start', env.run(['app', 'start', uuid, '--app=talk']));
    const attached = env.run(['attach', '--app=talk', uuid], { input: 'one\nquit\n' });
    expect(attached, attached.stderr).toMatchObject({ status: 0, stdout: 'got one\nbye\n' });
    ok('rkt app rm of the app added again', env.run(['app', 'rm', uuid, '--app=talk']));

    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    expectNothingLeft(env, uuid);
  }, 300_000);
});
