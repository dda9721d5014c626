// The appc executor conformance test: the spec's ACE validator (ace/validator.go, v0.8.11) runs as one pod
// of two apps (main, with pre-start and post-stop event handlers, and sidekick) sharing an empty volume, with
// the metadata service, through the systemd stage1, as rkt's functional test ran it
// (tests/rkt_ace_validator_test.go: `rkt run --mds-register --volume database,kind=empty MAIN SIDEKICK`).
// Every stage it reports must say OK, in the spec's order, and `rkt run` must exit 0.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot, RktEnv } from '../pods/harness.js';
import { aceUnavailable, buildAceImages, type AceImages } from './build-ace.js';
import { MdsProcess } from './mds-service.js';

const stage1Aci = join(repoRoot, 'packages/stage1-systemd/dist/stage1-systemd.aci');

/** What is missing on this machine for the validator to be built at all (Go or the spec's sources). */
const missing = aceUnavailable();

let env: RktEnv | undefined;
let mds: MdsProcess | undefined;
let images: AceImages;

function ensureStage1Built(): void {
  if (existsSync(stage1Aci)) return;
  const r = spawnSync('npm', ['run', 'build', '-w', '@rkt/stage1-systemd'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stage1-systemd build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** Cgroups nspawn and the systemd stage1 leave below this process's own when a pod is killed. */
function podCgroups(): string[] {
  const found: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    const root = controllers === '' ? (existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup') : join('/sys/fs/cgroup', controllers.replace(/^name=/, ''));
    const dir = join(root, path);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory() && e.name.startsWith('rkt-')) found.push(join(dir, e.name));
  }
  return found;
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Still populated: reported by the assertions of the run itself.
  }
}

beforeAll(async () => {
  if (missing !== undefined) return;
  ensureBuilt();
  ensureStage1Built();
  images = await buildAceImages();
}, 900_000);

let cgroupsBefore: string[] = [];
afterEach(async () => {
  if (env !== undefined) {
    // A pod left running by a failed run: its nspawn (ppid file) is killed, and what it leaves removed.
    for (const line of spawnSync('sh', ['-c', `cat ${env.dataDir}/pods/run/*/ppid 2>/dev/null`], { encoding: 'utf8' }).stdout.split('\n')) {
      const pid = Number(line.trim());
      if (pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    // This env's pods only: test files running beside this one have pods of their own below the same cgroup.
    const uuids: string[] = [];
    const podsDir = join(env.dataDir, 'pods');
    for (const state of existsSync(podsDir) ? readdirSync(podsDir) : []) uuids.push(...readdirSync(join(podsDir, state)));
    for (const uuid of uuids) rmSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`, { recursive: true, force: true });
    await env.cleanup();
    for (const c of podCgroups().filter((c) => !cgroupsBefore.includes(c) && uuids.some((u) => c.endsWith(`/rkt-${u}`)))) removeCgroupTree(c);
  }
  env = undefined;
  await mds?.stop();
  mds = undefined;
});

/** The validator's verdict lines ("prestart OK", "main FAIL", ...) in the order they came. */
function stages(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^(prestart|main|sidekick|poststop) (OK|FAIL)$/.test(l));
}

describe('the appc ACE validator', () => {
  it.skipIf(missing !== undefined)(`passes every stage in one pod of two apps with an empty volume and the metadata service${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    cgroupsBefore = podCgroups();
    env = new RktEnv();
    // --debug: the service logs every request with its time.
    mds = await MdsProcess.start(env.tmp, ['--listen-port=0', '--debug']);
    const r = env.run(
      ['--debug', 'run', `--stage1-path=${stage1Aci}`, '--mds-register', `--mds-socket=${mds.socket}`, '--volume', 'database,kind=empty', images.main, images.sidekick],
      { timeoutMs: 90_000 },
    );
    const seen = stages(r.stdout);
    const report = `rkt run exited ${r.status}\nstdout:\n${r.stdout}\nstderr (validator errors start with ==>):\n${r.stderr
      .split('\n')
      .filter((l) => !/^stage1-systemd run: /.test(l))
      .join('\n')}`;
    // Each stage once, OK; pre-start before main, post-stop after main; sidekick runs alongside main.
    expect(seen.filter((l) => l.endsWith('FAIL')), report).toEqual([]);
    expect([...seen].sort(), report).toEqual(['main OK', 'poststop OK', 'prestart OK', 'sidekick OK']);
    expect(seen.indexOf('prestart OK'), report).toBeLessThan(seen.indexOf('main OK'));
    expect(seen.indexOf('poststop OK'), report).toBeGreaterThan(seen.indexOf('main OK'));
    expect(r.status, report).toBe(0);

    // The validator's own client gives each request 100 ms, so "main OK" already proves the bound; the
    // service's log shows what each took.
    await mds.waitForLog(/registered pod [0-9a-f-]+ \(2 apps\)/);
    await mds.waitForLog(/pod\/hmac\/verify 200/);
    const times = [...mds.stderr.matchAll(/ (GET|POST) \/<token>\/acMetadata\/v1\/\S+ 200 ([0-9.]+) ms/g)].map((m) => Number(m[2]));
    expect(times.length, mds.stderr).toBeGreaterThanOrEqual(10);
    expect(Math.max(...times), mds.stderr).toBeLessThan(100);

    // The pod was registered while it ran, and gc unregisters it.
    expect((await mds.registered()).length).toBe(1);
    expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
    expect(await mds.registered()).toEqual([]);
  }, 180_000);

  // The same pod without the metadata service: the validator must notice, or its OKs above would prove nothing.
  it.skipIf(missing !== undefined)('reports main FAIL when the apps get no metadata service', () => {
    cgroupsBefore = podCgroups();
    env = new RktEnv();
    const r = env.run(['run', `--stage1-path=${stage1Aci}`, '--volume', 'database,kind=empty', images.main, images.sidekick], { timeoutMs: 90_000 });
    expect(stages(r.stdout), r.stdout + r.stderr).toEqual(expect.arrayContaining(['prestart OK', 'main FAIL', 'sidekick OK']));
    expect(r.stderr).toContain('==> AC_METADATA_URL is not set');
    expect(r.status).not.toBe(0);
  }, 180_000);
});

