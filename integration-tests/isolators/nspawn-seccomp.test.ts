// The pod's nspawn runs without its own seccomp deny-list when every app has an allow-list of its own (rkt's
// default filter, or a retain-set): each app is still filtered (the kernel says so in /proc/PID/status), and a
// call outside its list still kills it; with --insecure-options=seccomp, or a remove-set, nspawn keeps its
// filter for the whole pod. And /sys is read-only to apps as a whole (rkt listed its directories one by one).
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, RktEnv } from '../pods/harness.js';
import { buildIsolatorAci, cleanupSystemdPods, ensureStage1Built, podCgroups, removeStage1Snapshot, snapshotFly, stage1Aci } from './harness.js';

let env: RktEnv;
let aci: string;
let cgroupsAtStart: string[];

beforeAll(() => {
  ensureBuilt();
  ensureStage1Built();
  snapshotFly();
}, 600_000);
afterAll(() => removeStage1Snapshot());
beforeEach(async () => {
  cgroupsAtStart = podCgroups();
  env = new RktEnv();
  aci = await buildIsolatorAci(env.tmp, 'iso');
});
afterEach(async () => {
  await cleanupSystemdPods(env, cgroupsAtStart);
});

function run(global: readonly string[], appFlags: readonly string[], script: string) {
  return env.run([...global, 'run', `--stage1-path=${stage1Aci}`, aci, ...appFlags, '--exec', '/bin/sh', '--', '-c', script]);
}

// The seccomp mode (0 none, 2 filtered) of the pod's PID 1 (its systemd) and of the app itself.
const MODES = 'echo "pid1 $(grep ^Seccomp: /proc/1/status | tr -d "\\t" | cut -d: -f2) app $(grep ^Seccomp: /proc/self/status | tr -d "\\t" | cut -d: -f2)"';

describe("the pod's seccomp filters", () => {
  it("default: the app has its own filter, nspawn's is off, and a call outside the app's list still kills it", () => {
    const r = run([], [], MODES);
    expect(r.stdout, r.stderr).toBe('pid1 0 app 2\n');
    // mount(2) is outside rkt's default list: the shell's child dies of SIGSYS, the shell says so and goes on.
    expect(run([], [], 'echo before; mount -t tmpfs none /tmp 2>&1; echo after').stdout).toBe('before\nBad system call\nafter\n');
  }, 60_000);

  it('a retain-set is an allow-list too; a remove-set keeps nspawn\'s filter for the whole pod', () => {
    expect(run([], ['--seccomp=mode=retain,@rkt/default-whitelist'], MODES).stdout).toBe('pid1 0 app 2\n');
    expect(run([], ['--seccomp=mode=remove,sethostname'], MODES).stdout).toBe('pid1 2 app 2\n');
  }, 60_000);

  it("--insecure-options=seccomp: the app has no filter of its own and nspawn's covers the pod, as before", () => {
    expect(run(['--insecure-options=seccomp'], [], MODES).stdout).toBe('pid1 2 app 2\n');
  }, 60_000);
});

describe('/sys', () => {
  it('is read-only to apps as a whole, and still readable', () => {
    if (!existsSync('/sys/kernel/mm/ksm/run')) return;
    // Opened for appending, nothing written: a failing test must not change the host's settings.
    const probe = 'cat /sys/kernel/mm/ksm/run >/dev/null && echo readable; (: >> /sys/kernel/mm/ksm/run) 2>/dev/null && echo writable || echo not writable; ls /sys/firmware 2>/dev/null | wc -l';
    expect(run([], [], probe).stdout).toBe('readable\nnot writable\n0\n');
  }, 60_000);
});
