// Shared by the systemd stage1's own pod tests: a data directory per test under the built systemd stage1
// (cleaned up even when the test fails), with a busybox image built once per file, what must be gone once a pod
// has ended, and pod manifests for --pod-manifest. The data directory starts with the stage1 in its store (none
// of these tests is about importing it), which saves each test 4 to 8 s.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { busyboxAciOfFile, ensureBuilt, podCgroups, podProcesses, prepareStage1Stores, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;

/**
 * Registers the hooks of a file of systemd pod tests; `env` and `aci` are the current test's. What costs
 * seconds and is the same for every test (the build, the stage1's store template, the busybox image, which
 * rkt only reads) is done once in the file's `beforeAll`, whose timeout is a build's; each test's own
 * `beforeEach` only copies the template into a new data directory.
 */
export function systemdPodTests(): { readonly env: RktEnv; readonly aci: string } {
  const current = {} as { env: RktEnv; aci: string };
  beforeAll(() => {
    ensureBuilt();
    prepareStage1Stores(systemd);
  }, 600_000);
  const fileAci = busyboxAciOfFile();
  // 60 s, not vitest's 10: after a test that changed a file it shares with the store template, that test fails
  // and the template is made again here (rkt fetch --full, seconds at load), for the next test's seed.
  beforeEach(() => {
    current.env = new RktEnv(systemd);
    current.env.seedStage1();
    current.aci = fileAci.path;
  }, 60_000);
  afterEach(async () => {
    await current.env.cleanup();
  });
  return current;
}

/** The UUID of the env's one pod (the test fails when there is not exactly one). */
/**
 * `rkt fetch` of the image into the env's store, then `rkt app sandbox` of the env's stage1 started in the
 * background (the file sets RKT_EXPERIMENT_APP), once it runs: its UUID, directory and end. With `appModules`
 * false, the pod's copy of the stage1 manifest loses its `rkt-ts.dev/stage1/app-*-module` annotations, as a
 * stage1 that offers none has (rkt's own, or one built before them): stage0 then executes the app entrypoints,
 * each in a process of its own that a test can find and kill, as rkt's stage0 did.
 */
export async function fetchedSandbox(env: RktEnv, aci: string, o: { appModules?: boolean } = {}): Promise<{ uuid: string; podDir: string; done: Promise<RktResult> }> {
  const fetched = env.run(['fetch', aci]);
  expect(fetched.status, `rkt fetch: ${fetched.stderr}`).toBe(0);
  const sandbox = env.start(['app', 'sandbox', `--stage1-path=${env.stage1!.aci}`]);
  const { uuid } = await env.waitRunning();
  const podDir = join(env.dataDir, 'pods', 'run', uuid);
  if (o.appModules === false) withoutAppModules(podDir);
  return { uuid, podDir, done: sandbox.done };
}

/**
 * Takes the `rkt-ts.dev/stage1/app-*-module` annotations out of the pod's copy of its stage1 manifest, as a
 * stage1 that offers none has (rkt's own, or one built before them): stage0 then executes the app entrypoints.
 */
export function withoutAppModules(podDir: string): void {
  const path = join(podDir, 'stage1', 'manifest');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as { annotations: { name: string }[] };
  const annotations = manifest.annotations.filter((a) => !/^rkt-ts\.dev\/stage1\/app-[a-z]+-module/.test(a.name));
  expect(annotations.length, 'the stage1 annotates its app modules').toBe(manifest.annotations.length - 8);
  writeFileSync(path, JSON.stringify({ ...manifest, annotations }));
}

export function onlyPodOf(env: RktEnv): string {
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string }[];
  expect(pods).toHaveLength(1);
  return (pods[0] as { name: string }).name;
}

/** `rkt status`'s `app-NAME=STATUS` lines of a pod, sorted. */
export function appStatusesOf(env: RktEnv, uuid: string): string[] {
  return env
    .run(['status', uuid])
    .stdout.split('\n')
    .filter((l) => l.startsWith('app-'))
    .sort();
}

/** Nothing of the pod is left on the host once it exited and was collected. */
export function expectNothingLeft(env: RktEnv, uuid: string): void {
  expect(podProcesses(uuid)).toEqual([]);
  expect(podCgroups(uuid)).toEqual([]);
  expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
  expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
  expect(env.mounts()).toEqual([]);
}

/**
 * The lock file systemd-nspawn would keep for the directory it boots, the pod's root (`stage1-root/rootfs`
 * in the pod directory, mounted while the pod runs): `/run/systemd/nspawn/locks/inode-<st_dev>:<st_ino>`, the
 * device as one decimal number (systemd's machine-image.c, `image_path_lock`). An nspawn killed with
 * `kill -9` leaves it, and nothing on the host removes it: the stage1 runs nspawn with
 * `SYSTEMD_NSPAWN_LOCK=0`, so that it takes none.
 */
export function nspawnLockFile(env: RktEnv, uuid: string): string {
  const st = statSync(join(env.dataDir, 'pods', 'run', uuid, 'stage1-root', 'rootfs'));
  return `/run/systemd/nspawn/locks/inode-${st.dev}:${st.ino}`;
}

/** Writes a pod manifest (appc 0.8.11) of these apps and pod isolators into `dir`; returns its path. */
export function writePodManifest(dir: string, apps: unknown[], isolators?: unknown[]): string {
  const path = join(dir, 'pod.json');
  writeFileSync(path, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps, ...(isolators !== undefined ? { isolators } : {}) }));
  return path;
}
