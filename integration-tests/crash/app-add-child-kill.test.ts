// `rkt app add` whose stage1 app/add is killed (kill -9 of the child alone) once the process running the sandbox
// serves the app's streams: stage0 sees the entrypoint fail and takes the app out of the manifest again, and the
// app/add, killed, could not ask for its sockets' removal. The process running the pod stops serving them once the
// manifest no longer names the app: its stream sockets and attach endpoints are gone, and a new add of the name is
// served and attached to as any. No strace: the kill is the test's own, once the app's endpoints are seen.
// The sandbox's stage1 manifest is stripped of its app modules (fetchedSandbox's appModules: false), so that
// stage0 executes app/add in a process of its own, as rkt's stage0 and a stage1 without modules have it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RktResult } from '../pods/harness.js';
import { expectNothingLeft, fetchedSandbox, systemdPodTests } from '../systemd/harness.js';
import { childrenOf, withExperiments } from './kill-sweep.js';

const pods = systemdPodTests();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
withExperiments('RKT_EXPERIMENT_APP', 'RKT_EXPERIMENT_ATTACH');

describe('kill -9 of rkt app add\'s stage1 app/add once the app\'s streams are served (systemd sandbox)', () => {
  it('the add is undone and the process running the pod stops serving the app\'s sockets; a new add of the name is served', async () => {
    const { env, aci } = pods;
    const ok = (what: string, r: RktResult): RktResult => (expect(r.status, `${what}: ${r.stderr}`).toBe(0), r);
    const sandbox = await fetchedSandbox(env, aci, { appModules: false });
    const { uuid, podDir } = sandbox;
    const add = ['app', 'add', uuid, 'example.com/busybox', '--name=talk', '--stdin=stream', '--stdout=stream', '--exec=/bin/sh', '--', '-c', 'while read x; do [ "$x" = quit ] && break; echo "got $x"; done; echo bye'];
    /** What the pod directory holds of the app's streams: its sockets in stage1-io, its attach directory. */
    const served = (): string[] => [
      ...readdirSync(join(podDir, 'stage1-io')).filter((f) => f.startsWith('talk.')).map((f) => `stage1-io/${f}`),
      ...(existsSync(join(podDir, 'stage1-attach', 'talk')) ? ['stage1-attach/talk'] : []),
    ];

    // The add, its app/add killed as soon as the app's endpoints are served (the serve is answered once they are).
    const adding = env.start(add);
    const endpoints = join(podDir, 'stage1-attach', 'talk', 'endpoints');
    let child: { pid: number; cmdline: string } | undefined;
    for (let i = 0; i < 20_000 && !existsSync(endpoints); i++) {
      child ??= childrenOf(adding.child.pid!).find((c) => c.cmdline.includes('/rkt/app-add'));
      await sleep(1);
    }
    expect(existsSync(endpoints), 'the app\'s endpoints, served for the add').toBe(true);
    child ??= childrenOf(adding.child.pid!).find((c) => c.cmdline.includes('/rkt/app-add'));
    expect(child, 'the stage1 app/add, still running').toBeDefined();
    process.kill(child!.pid, 'SIGKILL');
    const added = await adding.done;
    expect(added.status, `rkt app add, its app/add killed: ${added.stderr}`).toBe(254);
    // Undone by stage0: the app in neither the manifest nor the listing.
    expect(ok('rkt app list', env.run(['app', 'list', '--no-legend', uuid])).stdout).toBe('');
    // Its streams served no more, their sockets and endpoints removed, once the manifest lost the app.
    for (let i = 0; i < 100 && served().length > 0; i++) await sleep(50);
    expect(served(), 'the app\'s sockets and endpoints after the add was undone').toEqual([]);

    // A new add of the name is served as any, its input and output through attach.
    ok('rkt app add again', env.run(add));
    expect(existsSync(endpoints), 'the endpoints of the app added again').toBe(true);
    ok('rkt app start', env.run(['app', 'start', uuid, '--app=talk']));
    const attached = env.run(['attach', '--app=talk', uuid], { input: 'one\nquit\n' });
    expect(attached, attached.stderr).toMatchObject({ status: 0, stdout: 'got one\nbye\n' });
    ok('rkt app rm', env.run(['app', 'rm', uuid, '--app=talk']));
    expect(served(), 'the app\'s sockets and endpoints after rkt app rm').toEqual([]);

    ok('rkt stop', env.run(['stop', uuid]));
    const done = await sandbox.done;
    expect(done.status, done.stderr).toBe(0);
    expectNothingLeft(env, uuid);
  }, 300_000);
});
